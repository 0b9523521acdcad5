"""Seed 000's fine-tuning workflow with archc: a 1000-class AlexNet's weights into a 2-class AlexNet.

Seed 000 loads torchvision's pretrained AlexNet and replaces `classifier[-1]` with `Linear(4096, 2)`.
Here the same happens offline: specs/alexnet.yaml built with a fixed seed stands in for the pretrained
network, specs/alexnet_finetune.yaml (which `extends:` it with num_classes 2; the same as
`archc build specs/alexnet.yaml --set num_classes=2`) is the new one. Every weight whose name and
shape match is copied, the mismatched head is skipped and reported, everything but the new head is
frozen, and the head is trained on a self-made two-class data set (bright top half vs bright bottom
half) at 64x64, which AlexNet's adaptive average pool allows. Exits with status 1
unless the mean loss of the last steps (a quarter of them, at most 5) is below 0.7 x that of as many
first steps.

    python3 examples/finetune_alexnet.py [--steps 40] [--batch 32] [--size 64] [--seed 0] [--lr 0.05]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import archc

SPECS = Path(__file__).resolve().parent.parent / "specs"


def transferable(state: dict, model: nn.Module) -> tuple[dict, list[str]]:
    """The entries of `state` that fit `model` (same name, same shape), and the names of the rest."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    return fits, [k for k in state if k not in fits]


def two_class_images(count: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy 3 x size x size images; label 0: the top half is brighter, label 1: the bottom half."""
    labels = torch.randint(0, 2, (count,), generator=generator)
    images = 0.5 * torch.randn(count, 3, size, size, generator=generator)
    top = labels == 0
    images[top, :, : size // 2] += 1.0
    images[~top, :, size // 2:] += 1.0
    return images, labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--size", type=int, default=64, help="image height and width (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="Adam's learning rate (default 0.05: the stand-in features are small and untrained)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    input_shape = (3, args.size, args.size)

    pretrained = archc.build(str(SPECS / "alexnet.yaml"), input_shape=input_shape, seed=args.seed)
    state = pretrained.state_dict()                  # what torchvision's pretrained=True would supply
    del pretrained

    model = archc.build(str(SPECS / "alexnet_finetune.yaml"), input_shape=input_shape, seed=args.seed + 1)
    fits, skipped = transferable(state, model)
    result = model.load_state_dict(fits, strict=False)
    print(f"copied {len(fits)} of {len(state)} tensors; skipped (shape differs): "
          + ", ".join(f"{k} {tuple(state[k].shape)}" for k in skipped))
    print("left at their new initial values:", ", ".join(result.missing_keys))

    head = model.classifier[-1]                      # Linear(4096, 2), the seed's new classifier[-1]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"training {trainable:,} of {sum(p.numel() for p in model.parameters()):,} parameters "
          f"(classifier.6: {head})")

    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    model.eval()                                     # the frozen layers extract features: dropout off
    losses = []
    for step in range(1, args.steps + 1):
        images, labels = two_class_images(args.batch, args.size, generator)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step == 1 or step % max(1, args.steps // 8) == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")

    images, labels = two_class_images(256, args.size, generator)
    with torch.no_grad():
        correct = (model(images).argmax(1) == labels).float().mean().item()
    window = max(1, min(5, len(losses) // 4))
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    print(f"mean loss of the first {window} steps {first:.4f}, of the last {window} steps {last:.4f}; "
          f"held-out accuracy {correct:.1%}")
    if not last < 0.7 * first:
        print(f"the loss did not fall by 30%: the mean of the last {window} steps ({last:.4f}) is not below 0.7 x "
              f"that of the first {window} ({0.7 * first:.4f}); train longer with --steps", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
