"""Drawing a maze: an RGB image (numpy only) and text (``render_mode="ansi"``)."""

from __future__ import annotations

import numpy as np

WALL_RGB = (40, 40, 48)
FLOOR_RGB = (232, 232, 226)
START_RGB = (120, 160, 255)
GOAL_RGB = (60, 190, 80)
AGENT_RGB = (220, 50, 50)
PIXELS_PER_SQUARE = 8


def maze_image(walls: np.ndarray, start: int, goal: int, agent: int,
               scale: int = PIXELS_PER_SQUARE) -> np.ndarray:
    """``uint8`` image ``(G*scale, G*scale, 3)``; positions are flat grid indices."""
    grid = walls.shape[0]
    colours = np.empty((grid * grid, 3), dtype=np.uint8)
    colours[:] = FLOOR_RGB
    colours[walls.ravel().astype(bool)] = WALL_RGB
    colours[start] = START_RGB
    colours[goal] = GOAL_RGB
    colours[agent] = AGENT_RGB
    image = colours.reshape(grid, grid, 3)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def maze_text(walls: np.ndarray, start: int, goal: int, agent: int) -> str:
    """Text picture: ``#`` wall, ``S`` start, ``G`` goal, ``A`` agent (over S/G), space floor."""
    grid = walls.shape[0]
    chars = np.where(walls.ravel().astype(bool), "#", " ").astype("<U1")
    chars[start] = "S"
    chars[goal] = "G"
    chars[agent] = "A"
    return "\n".join("".join(chars[r * grid : (r + 1) * grid]) for r in range(grid)) + "\n"


def show_human(holder, image: np.ndarray, fps: int, caption: str = "krazy_gym maze") -> None:
    """Show ``image`` in a pygame window kept in ``holder._window`` / ``holder._clock``."""
    import pygame  # lazily: only render_mode="human" needs it

    if holder._window is None:
        pygame.init()
        pygame.display.init()
        holder._window = pygame.display.set_mode((image.shape[1], image.shape[0]))
        pygame.display.set_caption(caption)
        holder._clock = pygame.time.Clock()
    surface = pygame.surfarray.make_surface(np.transpose(image, (1, 0, 2)))
    holder._window.blit(surface, (0, 0))
    pygame.event.pump()
    pygame.display.flip()
    holder._clock.tick(fps)


def close_human(holder) -> None:
    """Close the pygame window of ``holder`` if one is open."""
    if getattr(holder, "_window", None) is not None:
        import pygame

        pygame.display.quit()
        pygame.quit()
        holder._window = None
