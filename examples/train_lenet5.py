"""Seed 002's workflow with archc: build LeNet-5 from specs/lenet5.yaml and train it.

No download: the script draws its own digit-like data set, ten classes of stroke patterns on 1x28x28
(each class a fixed set of strokes, every sample shifted by up to 2 pixels and noised). It trains with
Adam and cross-entropy as seed 002 does on MNIST, prints the loss, reports accuracy on held-out samples,
and exits with status 1 unless the mean loss of the last steps (a quarter of them, at most 10) is
below 0.7 x that of as many first steps.

    python3 examples/train_lenet5.py [--steps 300] [--batch 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import archc

SPEC = Path(__file__).resolve().parent.parent / "specs" / "lenet5.yaml"
CLASSES, SIZE, STROKES = 10, 28, 3


def class_templates(generator: torch.Generator) -> torch.Tensor:
    """One 28x28 template per class: a few random horizontal, vertical or diagonal strokes."""
    templates = torch.zeros(CLASSES, SIZE, SIZE)
    line = torch.arange(6, 22)
    for c in range(CLASSES):
        for _ in range(STROKES):
            kind, at = torch.randint(0, 3, (2,), generator=generator).tolist()
            offset = 6 + int(torch.randint(0, 16, (1,), generator=generator))
            if kind == 0:
                templates[c, offset, line] = 1.0
            elif kind == 1:
                templates[c, line, offset] = 1.0
            else:
                templates[c, line, line if at % 2 else line.flip(0)] = 1.0
    return templates


def sample(templates: torch.Tensor, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` noisy, shifted copies of random class templates: images (N, 1, 28, 28) and labels (N,)."""
    labels = torch.randint(0, CLASSES, (count,), generator=generator)
    shifts = torch.randint(-2, 3, (count, 2), generator=generator)
    images = torch.stack([templates[y].roll(tuple(s.tolist()), dims=(0, 1)) for y, s in zip(labels, shifts)])
    images = images + 0.3 * torch.randn(images.shape, generator=generator)
    return images.unsqueeze(1), labels


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(images).argmax(1) == labels).float().mean().item()
    model.train()
    return correct


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    model = archc.build(str(SPEC), seed=args.seed)           # feature.cnn1 ... classifier.fc2, 61,706 params
    print(f"built {SPEC.name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    generator = torch.Generator().manual_seed(args.seed)
    templates = class_templates(generator)
    test_images, test_labels = sample(templates, 500, generator)
    print(f"held-out accuracy before training: {accuracy(model, test_images, test_labels):.1%}")

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(1, args.steps + 1):
        images, labels = sample(templates, args.batch, generator)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 1 or step % max(1, args.steps // 10) == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    window = max(1, min(10, len(losses) // 4))
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    print(f"mean loss of the first {window} steps {first:.4f}, of the last {window} steps {last:.4f}")
    print(f"held-out accuracy after training: {accuracy(model, test_images, test_labels):.1%}")
    if not last < 0.7 * first:
        print(f"the loss did not fall by 30%: the mean of the last {window} steps ({last:.4f}) is not below 0.7 x "
              f"that of the first {window} ({0.7 * first:.4f}); train longer with --steps", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
