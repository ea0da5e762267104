"""LangGraph runtime: state, nodes, the prebuilt skill agent, the graph registry and runner."""
