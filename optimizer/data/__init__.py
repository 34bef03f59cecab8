"""Data in: the embedded Taiyuan dataset, user layers and coordinate systems."""

from optimizer.data.taiyuan import TaiyuanData, load_taiyuan

__all__ = ["TaiyuanData", "load_taiyuan"]
