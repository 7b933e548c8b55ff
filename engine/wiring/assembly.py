"""Wire a run together from its configuration: domain, proposer, outer levels, mechanism host."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.engine.agents.base import Agent
from bilevel_evolve.engine.agents.factory import build_agent, build_llm_for
from bilevel_evolve.engine.mechanisms.bookkeeping import ArchiveBookkeeper
from bilevel_evolve.engine.mechanisms.model import MechanismModel
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.run.fail_fast import FailFast
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.text.run import TextRun
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.sandbox.hosts.base import LocalProcessHost, MechanismHost

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.briefing import Briefing
    from bilevel_evolve.engine.llm.client import LLMClient
    from bilevel_evolve.engine.outer.research.candidates import Scientist
    from bilevel_evolve.mechanism_archive.archive import Archive

HOST_RUNTIME_WARNING = (
    "WARNING: --mechanism-runtime host runs mechanism code unconfined on this machine. "
    "Use it only for mechanisms you wrote or trust; the default is the sandboxed container."
)


def archive_path(config: RunConfig) -> Path:
    from bilevel_evolve.mechanism_archive.layout import default_archive_dir

    return Path(config.archive) if config.archive else default_archive_dir()


def load_domain_for(config: RunConfig) -> Domain:
    from bilevel_evolve.domains.registry import DomainOptions, load_domain

    return load_domain(config.domain, DomainOptions.from_mapping(config.domain_options))


@dataclass
class Parts:
    """Everything validated before a run directory is touched."""

    domain: Domain
    client: LLMClient | None
    agent: Agent
    briefing: Briefing | None = None  # what the LLM levels are told (None: no LLM in this run)
    archive: Archive | None = None
    text: TextRun | None = None  # a text run's own parts (its proposer is the revision pipeline)
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def prepare(config: RunConfig, run_dir: Path, *, user_mechanisms: int = 0) -> Parts:
    domain = load_domain_for(config)
    client = build_llm_for(config, run_dir)
    briefing = None
    if client is not None:
        from bilevel_evolve.engine.llm.briefing import run_briefing

        briefing = run_briefing(config, run_dir, domain)
    parts = Parts(domain=domain, client=client, agent=build_agent(config, client, briefing), briefing=briefing)
    if (text := TextRun.of(domain, config, client, briefing)) is not None:
        parts.agent, parts.text = text.agent, text
    if "2" in config.levels or config.mechanisms or user_mechanisms:
        from bilevel_evolve.mechanism_archive.archive import Archive

        parts.archive = Archive.open(archive_path(config), create=True)
        parts.closers.append(parts.archive.close)
        if config.mechanism_runtime == "container":
            from bilevel_evolve.sandbox.image import connect, image_name, require_image
            from bilevel_evolve.sandbox.runtime import require_runtime

            engine = connect()
            require_image(engine, image_name())  # no engine or no image: say so before starting
            require_runtime(engine, config.sandbox_runtime)  # nor a --sandbox-runtime it lacks
    return parts


def vet_user_mechanisms(config: RunConfig, parts: Parts, files: list[Path]) -> RunConfig:
    """Vet and archive each --mechanism file; the run starts only if every one is accepted."""
    from bilevel_evolve.engine.outer.research.user_mechanisms import vet_and_archive

    assert parts.archive is not None
    ids = []
    for path in files:
        mech_id, vetting = vet_and_archive(path, parts.archive, run_id=config.run_id, runtime=config.sandbox_runtime,
                                           space=parts.domain.space.to_dict(), direction=parts.domain.direction)
        if not vetting.accepted:
            raise EvolveError(f"mechanism {path} was rejected ({vetting.status}):\n{vetting.text}",
                              "fix what the report names and run again (`evolve check FILE` shows it alone)")
        ids.append(mech_id)
    return config.model_copy(update={"mechanisms": tuple(dict.fromkeys(ids))})


def build_loop(config: RunConfig, run_dir: Path, store: RunStore, parts: Parts) -> InnerLoop:
    outer: list[OuterController] = []
    offline = parts.client is None
    if parts.briefing is not None:
        from bilevel_evolve.engine.llm.briefing import freeze_brief

        freeze_brief(run_dir, parts.briefing.brief)
    if parts.text is not None:
        parts.text.bind(run_dir)
    if "1.5" in config.levels and parts.text is not None:
        outer.append(parts.text.level15())
    elif "1.5" in config.levels:
        from bilevel_evolve.engine.outer.level15 import ConfigController, LLMAnalyst, OfflineAnalyst

        analyst = OfflineAnalyst() if offline else LLMAnalyst(parts.client, parts.briefing)  # type: ignore[arg-type]
        outer.append(ConfigController(analyst, every=config.level15_every))
    host = None
    source = None
    if parts.archive is not None:
        host = _host(config, run_dir)
        parts.closers.append(host.close)
        source = parts.archive.source
        outer.append(ArchiveBookkeeper(parts.archive))
    if "2" in config.levels:
        from bilevel_evolve.engine.outer.research.controller import ResearchController
        from bilevel_evolve.engine.outer.research.vetting import SandboxVetter

        assert parts.archive is not None
        scientist = (parts.text.scientist(parts.archive) if parts.text is not None
                     else _scientist(parts.client, parts.briefing, parts.archive))
        # a text run's one parameter numbers a draft of its own run: nothing another run found means a thing there
        outer.append(ResearchController(scientist, parts.archive, SandboxVetter(runtime=config.sandbox_runtime),
                                        every=config.level2_every,
                                        repair_rounds=config.repair_rounds, recall=parts.text is None))
    fail_fast = FailFast(config.fail_fast, run_dir=run_dir,
                         python=config.domain_options.get("python") or sys.executable)
    # a mechanism's ctx.llm is answered with the run's client (offline: the deterministic stand-in)
    loop = InnerLoop(store, config, parts.domain, parts.agent, mechanism_host=host, outer=outer,
                     mechanism_source=source, fail_fast=fail_fast, mechanism_model=MechanismModel(parts.client))
    if parts.text is not None:
        parts.text.attach(loop)
    return loop


def _host(config: RunConfig, run_dir: Path) -> MechanismHost:
    if config.mechanism_runtime == "host":
        print(HOST_RUNTIME_WARNING, file=sys.stderr)
        return LocalProcessHost(run_dir / "mechanism_host", max_return_bytes=config.mechanism_return_bytes)
    from bilevel_evolve.sandbox.hosts.container import HOST_LIMITS, ContainerHost

    limits = HOST_LIMITS.model_copy(update={"runtime": config.sandbox_runtime})

    return ContainerHost(run_id=config.run_id, limits=limits, max_return_bytes=config.mechanism_return_bytes)


def _scientist(client: LLMClient | None, briefing: Briefing | None, archive: Archive | None) -> Scientist:
    if client is None:
        from bilevel_evolve.engine.outer.research.offline_scientist import OfflineScientist

        return OfflineScientist()
    from bilevel_evolve.engine.outer.research.llm_scientist import LLMScientist

    return LLMScientist(client, briefing, archive)
