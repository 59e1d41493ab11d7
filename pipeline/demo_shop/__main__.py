"""``python -m pipeline.demo_shop``: the same as ``vitrine demo-shop``."""

import argparse
import sys

from pipeline.demo_shop import add_arguments, cmd_demo_shop

parser = argparse.ArgumentParser(prog="python -m pipeline.demo_shop", description=__doc__)
add_arguments(parser)
sys.exit(cmd_demo_shop(parser.parse_args()))
