"""The shipped real-valued teacher (checkpoints/resnet20_real.pt) teaches what it scored: frozen, in
eval mode, and on the test images at its recorded accuracy."""
from pathlib import Path

import torch

from models.checkpoint import load_model
from models.datasets import load_raw, to_model_input
from models.distill import load_teacher
from models.registry import model_info

TEACHER = Path(__file__).resolve().parents[1] / "checkpoints" / "resnet20_real.pt"


def test_shipped_teacher_scores_its_recorded_accuracy():
    _, meta = load_model(TEACHER)
    teacher = load_teacher(TEACHER)
    assert not model_info("resnet20_real").hardware
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    images, labels = load_raw(meta["dataset"], "test")
    with torch.no_grad():
        predicted = teacher(to_model_input(images[:2000])).argmax(1).numpy()
    accuracy = (predicted == labels[:2000]).mean()
    assert meta["test_accuracy"] >= 0.94
    assert abs(accuracy - meta["test_accuracy"]) < 0.02
