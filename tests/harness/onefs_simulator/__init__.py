"""OneFS PAPI simulator for tests, demos and benchmarks (``python -m harness.onefs_simulator``)."""

from .model import ClusterModel, Node, default_nodes
from .server import Faults, OneFSSimulator, SimClock

__all__ = ["ClusterModel", "Faults", "Node", "OneFSSimulator", "SimClock", "default_nodes"]
