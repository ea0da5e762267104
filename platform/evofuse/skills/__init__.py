"""Skills: the Agent Skills format, the versioned library (SQL + Chroma) and the Selector.

Only this package talks to Chroma.
"""

from evofuse.errors import BundleError, EmbeddingMismatchError, SkillNotFoundError
from evofuse.skills.bundle import Bundle, BundleFile, read_bundle
from evofuse.skills.embeddings import Embedder, LiteLLMEmbedder, MiniLMEmbedder, make_embedder
from evofuse.skills.index import SkillIndex, chroma_client
from evofuse.skills.library import Library, Published, SearchResult
from evofuse.skills.models import Context, LoadedSkill, SkillInfo, VersionInfo, VersionStats
from evofuse.skills.selector import (
    DENSE_ONLY,
    LibrarySkillChooser,
    NearMatch,
    Selection,
    Selector,
    SelectorConfig,
    task_text,
)
from evofuse.skills.spec import Issue, Severity, SkillSpec, Step, format_steps, parse_skill_md
from evofuse.skills.transfer import (
    ImportReport,
    ImportResult,
    ImportStatus,
    export_skills,
    import_path,
    read_skill,
    skill_folders,
)
from evofuse.store import Origin, Scope, Status

__all__ = [
    "DENSE_ONLY",
    "Bundle",
    "BundleError",
    "BundleFile",
    "Context",
    "Embedder",
    "EmbeddingMismatchError",
    "ImportReport",
    "ImportResult",
    "ImportStatus",
    "Issue",
    "Library",
    "LibrarySkillChooser",
    "LiteLLMEmbedder",
    "LoadedSkill",
    "MiniLMEmbedder",
    "NearMatch",
    "Origin",
    "Published",
    "Scope",
    "SearchResult",
    "Selection",
    "Selector",
    "SelectorConfig",
    "Severity",
    "SkillIndex",
    "SkillInfo",
    "SkillNotFoundError",
    "SkillSpec",
    "Status",
    "Step",
    "VersionInfo",
    "VersionStats",
    "chroma_client",
    "export_skills",
    "format_steps",
    "import_path",
    "make_embedder",
    "parse_skill_md",
    "read_bundle",
    "read_skill",
    "skill_folders",
    "task_text",
]
