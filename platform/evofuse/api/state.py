"""What the routes share: the deployment's services, a Runner, the fusion graphs, metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.pregel import Pregel

from evofuse.api.evolution_worker import CycleWorker
from evofuse.api.fusion_graph import fusion_graph
from evofuse.api.metrics import Metrics
from evofuse.readiness import WorkerReadiness

if TYPE_CHECKING:
    from evofuse.config import Settings
    from evofuse.runtime.runner import Runner
    from evofuse.services import Services
    from evofuse.store import Store

log = logging.getLogger("evofuse.api")


@dataclass
class ApiState:
    services: Services
    runner: Runner
    fusion_graphs: dict[str, Pregel[Any, Any, Any, Any]]
    metrics: Metrics
    evolution: CycleWorker  # cycles started over HTTP, off the event loop; closed by the lifespan
    readiness: WorkerReadiness  # under `serve --workers N`: whether every worker is warm

    @classmethod
    def build(cls, services: Services) -> ApiState:
        services.mark_interrupted_runs()  # this process starts serving runs
        # Chat Completions is stateless (every request carries the whole conversation), so
        # LangGraph checkpoints would only pile up rows nobody reads: the API runs without.
        graphs = {name: fusion_graph(name) for name in services.settings.fusion.profiles}
        return cls(
            services=services,
            runner=services.runner(checkpoints=False),
            fusion_graphs=graphs,
            metrics=Metrics(),
            evolution=CycleWorker(services),
            readiness=WorkerReadiness.from_env(),
        )

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def auth_enabled(self) -> bool:
        return self.settings.auth.enabled

    def warm_up(self) -> None:
        """Pay the slow first-use costs (litellm import, embedding model) off the request path.

        Runs in a thread while the server already answers; a failure here is logged, and the
        first request that needs the part pays for it again.
        """
        try:
            self.services.engine.gateway.warm_up()
            self.services.selector.choose("warm up", tenant=None, user=None, skill=None)
        except Exception:
            log.exception("EvoFuse API warm-up failed; the first request will retry it")
            return
        self.readiness.mark_ready()
        log.info("EvoFuse API warm: graphs %s", ", ".join(self.runner.registry.ids))
