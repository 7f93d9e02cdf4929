"""Domain adaptation of a backbone: vocabulary extension and continued masked-LM pre-training.

`pretrain(cfg)` (recipe.py) writes a backbone folder that `model.backbone:` of any run config
accepts; `extend_for_run` (extend.py) is what `model.extend_vocab` of a fine-tune calls.
"""

from cotune.pretrain.config import PretrainConfig, load_pretrain_config

__all__ = ["PretrainConfig", "load_pretrain_config"]
