"""The Fashion-MNIST zoo entries the model tests cover, named once for all of them."""

ZOO = [
    "tfc_w1a1_nobn", "tfc_w1a1", "cnv_w1a1_nobn", "cnv_w1a1", "binarydensenet_nobn", "binarydensenet_bn",
    "binarydensenet_wide_nobn", "binarydensenet_wide_bn", "reactnet_nobn", "reactnet_bn", "resnete_nobn",
]
