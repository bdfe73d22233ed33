"""The model judging its own images, as ILLUME does: yes/no questions and log p(prompt | image).

For a candidate (the prompt, the image's codes) and each question of
``schemas.assessment.aspect_questions``, the model reads ``bos prompt <image> question`` and
the answer is scored by the log-probability of each of ``ANSWERS`` (" yes", " no") as a
continuation: ``p(yes) - p(no)`` after normalising the two, in [-1, 1]. A model that never
saw assessment documents answers at random; the loop's assessment documents teach it.
``prompt_logprob`` is the mean log-probability per token of the prompt after
``bos <image>``: how well the image explains its prompt, a signal even round 0 has, since
training on pairs in both orders taught the model to caption.
"""

from __future__ import annotations

import numpy as np
import torch

from schemas.assessment import ANSWERS
from schemas.token_layout import ImageCodes
from trainer.assets import Vocabulary
from trainer.model import Transformer
from trainer.train.loss import sequence_logprobs


class SelfAssessor:
    """A trained model scoring candidates of its own; ``batch_size`` sequences per forward pass."""

    def __init__(self, model: Transformer, vocab: Vocabulary, batch_size: int = 64):
        self.model, self.vocab, self.layout = model.eval(), vocab, vocab.layout
        self.batch_size = batch_size
        self.answer_ids = [vocab.text.encode(a) for a in ANSWERS]

    def _logprobs(self, sequences: list[list[int]], starts: list[int]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(sequences), self.batch_size):
                out.append(sequence_logprobs(self.model, sequences[i:i + self.batch_size],
                                             starts[i:i + self.batch_size], self.layout.pad).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _image(self, codes: np.ndarray) -> list[int]:
        return self.layout.image_tokens(np.asarray(codes)).tolist()

    def answers(self, prompts: list[str], codes: list[np.ndarray], questions: list[list[str]]) -> list[list[float]]:
        """``p(yes) - p(no)`` for each question of each candidate (prompt, image codes (h, w))."""
        rows = []
        for prompt, grid, qs in zip(prompts, codes, questions):
            prefix = [self.layout.bos, *self.vocab.text.encode(prompt), *self._image(grid)]
            rows.append((prefix, [(self.vocab.text.encode(q), self.answer_ids) for q in qs]))
        out = []
        per_batch = max(1, self.batch_size // 8)  # a row holds a candidate's every question and answer
        for i in range(0, len(rows), per_batch):
            for lps in branch_logprobs(self.model, rows[i:i + per_batch], self.layout.pad):
                out.append([float(2.0 / (1.0 + np.exp(no - yes)) - 1.0) for yes, no in lps])  # softmax of the two
        return out

    def prompt_logprob(self, prompts: list[str], codes: list[np.ndarray]) -> list[float]:
        """Mean log p(prompt token | image, earlier prompt tokens) of each candidate."""
        sequences, starts, lengths = [], [], []
        for prompt, grid in zip(prompts, codes):
            head = [self.layout.bos, *self._image(grid)]
            ids = self.vocab.text.encode(prompt)
            sequences.append(head + ids + [self.layout.eos])
            starts.append(len(head))
            lengths.append(len(ids) + 1)
        return (self._logprobs(sequences, starts) / np.maximum(lengths, 1)).tolist()


def branch_logprobs(model: Transformer, rows: list[tuple[list[int], list[tuple[list[int], list[list[int]]]]]],
                    pad: int) -> list[list[list[float]]]:
    """log p(answer | prefix, question) for every answer of every question of every row, in one pass.

    A row is ``(prefix, [(question, [answer, ...]), ...])``. It is laid out as one sequence, the
    prefix then each question followed by its answers, and attention makes that a tree: a question
    sees the prefix and itself, an answer sees the prefix, its question and itself, and each
    branch's positions continue from where its parent ends. So the shared prefix (prompt and
    image) is read once per candidate, not once per question and answer.
    """
    device = next(model.parameters()).device
    seqs, scored = [], []  # scored: (row, predictor index, token, question, answer)
    for r, (prefix, questions) in enumerate(rows):
        tokens, pos, block, part = list(prefix), list(range(len(prefix))), [-1] * len(prefix), [0] * len(prefix)
        for q, (question, answers) in enumerate(questions):
            q_start, q_pos = len(tokens), len(prefix)
            tokens += question
            pos += range(q_pos, q_pos + len(question))
            block += [q] * len(question)
            part += [0] * len(question)
            for a, answer in enumerate(answers):
                a_start = len(tokens)
                for m, t in enumerate(answer):
                    pred = q_start + len(question) - 1 if m == 0 else a_start + m - 1
                    scored.append((r, pred, t, q, a))
                tokens += answer
                pos += range(q_pos + len(question), q_pos + len(question) + len(answer))
                block += [q] * len(answer)
                part += [a + 1] * len(answer)
        seqs.append((tokens, pos, block, part))
    longest = max(len(s[0]) for s in seqs)
    shape = (len(seqs), longest)
    tokens = torch.full(shape, pad, dtype=torch.long)
    positions, valid = torch.zeros(shape, dtype=torch.long), torch.zeros(shape, dtype=torch.bool)
    block, part = torch.full(shape, -2, dtype=torch.long), torch.zeros(shape, dtype=torch.long)
    for i, (t, p, b, q) in enumerate(seqs):
        n = len(t)
        tokens[i, :n], positions[i, :n], block[i, :n], part[i, :n] = (torch.tensor(t), torch.tensor(p),
                                                                      torch.tensor(b), torch.tensor(q))
        valid[i, :n] = True
    causal = torch.ones(longest, longest, dtype=torch.bool).tril()
    same = (block[:, :, None] == block[:, None, :]) & ((part[:, None, :] == 0) | (part[:, :, None] == part[:, None, :]))
    allowed = causal & ((block[:, None, :] == -1) | same) & valid[:, None, :]
    allowed |= torch.eye(longest, dtype=torch.bool)  # padding attends to itself: softmax stays finite
    with torch.no_grad():
        logits = model(tokens.to(device), positions.to(device), allowed[:, None].to(device)).float()
    idx = torch.tensor([(r, p) for r, p, _, _, _ in scored], dtype=torch.long)
    picked = torch.log_softmax(logits[idx[:, 0].to(device), idx[:, 1].to(device)], -1)
    picked = picked.gather(-1, torch.tensor([t for _, _, t, _, _ in scored], device=device)[:, None]).squeeze(-1)
    out = [[[0.0] * len(answers) for _, answers in questions] for _, questions in rows]
    for (r, _, _, q, a), lp in zip(scored, picked.tolist()):
        out[r][q][a] += lp
    return out


def codes_of(tokens: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """The first image's code grid (h, w) in a candidate's token sequence; ``ValueError`` when it has none."""
    for part in vocab.layout.decode(np.asarray(tokens)):
        if isinstance(part, ImageCodes):
            return part.codes
    raise ValueError("the token sequence holds no image")
