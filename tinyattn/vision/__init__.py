"""Visual hard attention: the glimpse sensor and the recurrent attention model (Mnih et al., 2014).

    from tinyattn.vision import glimpse

    patches = glimpse(images, locations, size=8, scales=2)      # (B, 2, C, 8, 8)

    model = RecurrentAttentionModel(num_classes=10, glimpses=6)
    out = model(images, rng=rng)                                   # out.logits, out.locations (B, 6, 2)
    loss, parts = out.loss(labels)                                 # cross-entropy + REINFORCE + baseline
"""
from tinyattn.vision.ram import RamOutput, RecurrentAttentionModel
from tinyattn.vision.sensor import glimpse, glimpse_corners

__all__ = ["glimpse", "glimpse_corners", "RecurrentAttentionModel", "RamOutput"]
