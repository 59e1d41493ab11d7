"""Pretrained backbones shipped as pinned packages (no download at run time)."""
