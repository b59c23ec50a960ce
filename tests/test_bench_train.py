"""The training benchmark: both precisions timed on the trainer's layout, ratios in the table."""
from models.bench_train import bench_model, format_table, weight_bits_of
from models.registry import create_model


def test_bench_times_each_precision_and_reports_the_speed_up():
    row = bench_model("tfc_w1a1_nobn", batches=1, batch_size=8, precisions=("fp32", "bf16"))
    assert set(row.seconds_per_batch) == {"fp32", "bf16"} and min(row.seconds_per_batch.values()) > 0
    assert row.batches_per_epoch == 7500  # 60,000 Fashion-MNIST images in batches of 8
    table = format_table([row], batches=1, batch_size=8).splitlines()
    assert table[0].endswith("| bf16 speed-up |")
    ratio = row.seconds_per_batch["fp32"] / row.seconds_per_batch["bf16"]
    assert table[2].endswith(f"| {ratio:.2f}x |")


def test_weight_bits_count_an_integer_stem_at_its_width():
    binary = weight_bits_of(create_model("binarydensenet_nobn", stem_bits=1))
    assert weight_bits_of(create_model("binarydensenet_nobn", stem_bits=4)) == binary + 3 * 32 * 9


def test_a_real_valued_teacher_is_timed_with_its_float_weights_and_macs():
    """The teacher has no binary layer: AGC spares its classifier, and its weights count 32 bits each."""
    row = bench_model("resnet20_real", batches=1, batch_size=4, precisions=("fp32",))
    model = create_model("resnet20_real")
    assert row.weight_bits == 32 * sum(p.numel() for n, p in model.named_parameters()
                                       if n.endswith("weight") and p.dim() > 1)
    assert row.macs_per_image > 30e6  # ResNet-20 at 28x28: 31.0 M MAC
