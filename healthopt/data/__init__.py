"""Data in: the embedded Taiyuan dataset, user layers and coordinate systems."""

from healthopt.data.dataset import TaiyuanData, load_taiyuan

__all__ = ["TaiyuanData", "load_taiyuan"]
