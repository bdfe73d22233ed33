"""Layout-constrained decoding: which ids may come next so every image is well formed.

Outside an image the model may write text, open an image with ``<|boi|>`` (when images are
allowed) or end with ``<|eos|>``. After ``<|boi|>`` it must write a height token, then a
width token (fixed to the VQ's grid when one is given), then exactly ``h * w`` image codes,
then ``<|eoi|>``. Everything else is masked out, so a decoded image always parses.
"""

from __future__ import annotations

import torch

from schemas.token_layout import SPECIALS, TokenLayout

TEXT, HEIGHT, WIDTH, CODES, EOI, DONE = "text", "height", "width", "codes", "eoi", "done"


class LayoutConstraint:
    """The decoding state of one sequence."""

    def __init__(self, layout: TokenLayout, grid: tuple[int, int] | None = None, allow_text: bool = True,
                 allow_images: bool = True, stop_after_image: bool = False, state: str = TEXT):
        self.layout, self.grid = layout, grid
        self.allow_text, self.allow_images, self.stop_after_image = allow_text, allow_images, stop_after_image
        self.state, self.h, self.w, self.left = state, 0, 0, 0
        grid0 = layout.special_offset + len(SPECIALS)
        self._heights = range(grid0, grid0 + layout.max_grid)
        self._widths = range(grid0 + layout.max_grid, grid0 + 2 * layout.max_grid)

    def allowed(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Boolean mask over the vocabulary."""
        lay = self.layout
        mask = torch.zeros(lay.vocab_size, dtype=torch.bool, device=device)
        if self.state == TEXT:
            if self.allow_text:
                mask[: lay.text_vocab_size] = True
            if self.allow_images:
                mask[lay.boi] = True
            mask[lay.eos] = True
        elif self.state == HEIGHT:
            if self.grid:
                mask[lay.height_token(self.grid[0])] = True
            else:
                mask[self._heights.start:self._heights.stop] = True
        elif self.state == WIDTH:
            if self.grid:
                mask[lay.width_token(self.grid[1])] = True
            else:
                mask[self._widths.start:self._widths.stop] = True
        elif self.state == CODES:
            mask[lay.image_offset:lay.special_offset] = True
        elif self.state == EOI:
            mask[lay.eoi] = True
        else:
            mask[lay.pad] = True
        return mask

    def advance(self, token: int) -> None:
        """Move past ``token`` (which must have been allowed)."""
        lay = self.layout
        if self.state == TEXT:
            if token == lay.eos:
                self.state = DONE
            elif token == lay.boi:
                self.state = HEIGHT
        elif self.state == HEIGHT:
            self.h, self.state = token - self._heights.start + 1, WIDTH
        elif self.state == WIDTH:
            self.w, self.state = token - self._widths.start + 1, CODES
            self.left = self.h * self.w
        elif self.state == CODES:
            self.left -= 1
            if self.left == 0:
                self.state = EOI
        elif self.state == EOI:
            self.state = DONE if self.stop_after_image else TEXT

    @property
    def done(self) -> bool:
        """Whether the sequence has ended."""
        return self.state == DONE

    @property
    def in_image(self) -> bool:
        """Whether the next token belongs to an image block."""
        return self.state in (HEIGHT, WIDTH, CODES, EOI)
