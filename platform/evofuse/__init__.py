"""EvoFuse: multi-model fusion for every LLM step, and skills that evolve from everyone's runs.

Importing this package is cheap on purpose: heavy dependencies (litellm, chromadb, langgraph)
are imported lazily by the subpackages that need them.
"""

__version__ = "0.1.0"
