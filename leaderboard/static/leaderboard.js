// Sortable leaderboard tables: click (or press Enter/Space on) a column header to sort by it;
// clicking the same header again reverses the order. Each cell carries its sort key in
// data-value; th[data-type] says whether the column compares as "number" or "text".
// No dependencies, no network.
(function () {
  "use strict";

  function cellKey(row, index, type) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-value");
    if (raw === null) { raw = cell.textContent.trim(); }
    return type === "number" ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortTable(table, header) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var index = headers.indexOf(header);
    var type = header.getAttribute("data-type") || "text";
    var current = header.getAttribute("aria-sort");
    var direction;
    if (current === "ascending") { direction = "descending"; }
    else if (current === "descending") { direction = "ascending"; }
    else { direction = header.getAttribute("data-first") || "ascending"; }
    var sign = direction === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (row, position) { row.setAttribute("data-position", position); });
    rows.sort(function (a, b) {
      var ka = cellKey(a, index, type), kb = cellKey(b, index, type);
      if (ka < kb) { return -sign; }
      if (ka > kb) { return sign; }
      // stable: keep the previous order for ties
      return a.getAttribute("data-position") - b.getAttribute("data-position");
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", direction);
  }

  function init() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
        header.tabIndex = 0;
        header.addEventListener("click", function () { sortTable(table, header); });
        header.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            sortTable(table, header);
          }
        });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
