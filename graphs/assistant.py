"""General assistant: pick the best skill for the task, run its steps through fusion, answer."""

from evofuse.runtime.prebuilt import create_skill_agent

graph = create_skill_agent(name="assistant")
