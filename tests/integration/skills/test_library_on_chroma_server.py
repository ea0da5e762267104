"""The library and Selector tests again, with Chroma as a server behind HttpClient."""

from __future__ import annotations

from evofuse.skills import Library, Origin, import_path
from evofuse.skills.index import SkillIndex
from tests.unit.skills.conftest import SEED_SKILLS
from tests.unit.skills.test_library import (  # noqa: F401  (collected here with the server fixture)
    test_candidates_are_stored_but_not_served_until_activated,
    test_changed_skill_gets_a_new_version_linked_to_its_parent,
    test_export_is_byte_identical_and_force_replaces,
    test_import_then_reimport_unchanged_makes_no_version,
    test_index_is_repaired_from_sql_when_it_drifts,
    test_invalid_skills_are_reported_and_do_not_stop_valid_ones,
    test_most_specific_scope_wins_for_a_shared_name,
    test_retire_removes_a_skill_from_search,
    test_rollback_activates_the_parent_and_updates_search,
    test_search_finds_the_relevant_skill_first,
    test_user_and_tenant_skills_never_leak,
)
from tests.unit.skills.test_selector import (  # noqa: F401
    test_chooser_returns_a_ready_to_run_skill_choice,
    test_new_user_gets_the_collective_best_version,
    test_private_skills_are_never_selected_for_others,
)


def test_the_library_really_uses_the_server(library: Library, chroma_server: str) -> None:
    import chromadb.api.fastapi

    index: SkillIndex = library.index
    assert isinstance(getattr(index.client, "_server", None), chromadb.api.fastapi.FastAPI)
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    assert library.search("write a commit message", k=1)[0].name == "commit-message"
