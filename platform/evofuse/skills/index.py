"""The Chroma index of active skill versions. The only module that talks to Chroma.

SQL is the source of truth; this index is derived from it and can always be rebuilt. Vectors are
computed by EvoFuse's own embedder and handed to Chroma, whose default embedding function (an
ONNX download) is never used. The collection records which backend and dimension built it, and
refuses vectors from any other.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from filelock import FileLock

from evofuse.errors import ConfigError, EmbeddingMismatchError
from evofuse.skills.embeddings import Embedder
from evofuse.skills.hits import Hit, Rows, with_changes
from evofuse.skills.lexical import LexicalStats, words

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

COLLECTION = "evofuse-skills"
META_BACKEND = "evofuse_embedding_backend"
META_DIMENSION = "evofuse_embedding_dimension"
META_GENERATION = "evofuse_generation"  # changes with every write: other processes reload
_TEXTS_PER_HIT = 4
_QUERY_CACHE_SIZE = 1024
_WRITE_BATCH = 1000  # Chroma caps the records per call (max_batch_size, ~5k on SQLite builds)
_READ_PAGE = 5000  # SQLite caps the variables of one statement
# Up to this many indexed texts the global collection is searched exactly, in numpy, from an
# in-memory copy (10,000 skills ~ 50,000 texts: ~75 MB, ~2-5 ms a query, and always the true
# nearest texts, where Chroma's HNSW returned the exact best skill for 57 % of the tasks).
# Beyond it, Chroma's approximate search with a wide ef_search.
EXACT_MAX_TEXTS = 100_000
_RECHECK_S = 1.0  # how stale the in-memory copy may get when another process writes
_LEXICAL_POOL = 50  # skills (best by similarity) that get the lexical score
# The approximate search, for collections created from now on (Chroma's defaults, M=16,
# ef_construction=100, ef_search=100, lost the best skill too often at 10k skills).
_EF_SEARCH = 400
_HNSW: dict[str, Any] = {
    "space": "cosine",
    "max_neighbors": 32,
    "ef_construction": 200,
    "ef_search": _EF_SEARCH,
}


def chroma_client(location: str) -> ClientAPI:
    """`storage.chroma`: a folder for the embedded PersistentClient, or http(s)://host:port."""
    import chromadb
    from chromadb.config import Settings

    # Telemetry off: nothing may leave the machine, and the posthog call fails offline anyway.
    settings = Settings(anonymized_telemetry=False)
    if location.startswith(("http://", "https://")):
        parts = urlsplit(location)
        if not parts.hostname:
            raise ConfigError(
                f"storage.chroma {location!r} has no host.", hint="Use http://host:8000."
            )
        ssl = parts.scheme == "https"
        return chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if ssl else 8000),
            ssl=ssl,
            settings=settings,
        )
    return chromadb.PersistentClient(path=location, settings=settings)


def open_skill_index(
    location: str, embedder: Embedder, collection: str = COLLECTION, *, rebuild: bool = False
) -> SkillIndex:
    """The skill index at `storage.chroma` (see `chroma_client`).

    An embedded store is opened under a lock file in its folder: processes that open one new
    folder at once (`serve --workers N` starts its workers together) otherwise race on
    Chroma's schema, and the losers fail ("table collections already exists", "database is
    locked"; 7 of 10 tries with four processes).
    """
    if location.startswith(("http://", "https://")):
        return SkillIndex(chroma_client(location), embedder, collection, rebuild=rebuild)
    folder = Path(location).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / ".evofuse-open.lock"):
        return SkillIndex(chroma_client(location), embedder, collection, rebuild=rebuild)


@dataclass(frozen=True)
class IndexEntry:
    """One active skill version as the index stores it."""

    skill_id: int
    name: str
    version: int
    scope: str
    tenant: str
    owner: str
    mode: str
    content_hash: str
    texts: tuple[str, ...]  # embedded one by one; a skill matches by its best text


def private_filter(tenant: str, owner: str | None) -> dict[str, Any] | None:
    """Chroma `where` for the private skills a caller may see: their tenant's and their own."""
    clauses: list[dict[str, Any]] = []
    if tenant:
        clauses.append({"$and": [{"scope": "tenant"}, {"tenant": tenant}]})
    if owner:  # the owner hash already binds the tenant; the tenant clause is belt and braces
        clauses.append({"$and": [{"scope": "user"}, {"tenant": tenant}, {"owner": owner}]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class SkillIndex:
    """Search over the active versions, with scope isolation done by the query filter.

    Global skills and private (tenant and user) skills live in two collections. Measured at
    10,000 skills: an unfiltered query takes ~3 ms, while any `where` filter that matches most
    of a collection costs ~60 ms in Chroma 1.5. Global search is never filtered; the private
    collection is filtered down to one tenant's and one user's few skills.
    """

    def __init__(
        self,
        client: ClientAPI,
        embedder: Embedder,
        collection: str = COLLECTION,
        *,
        rebuild: bool = False,
    ) -> None:
        """Open (or create) the collections; `rebuild` starts them over empty, for reindexing."""
        self.client = client
        self.embedder = embedder
        self.collection_name = collection
        self._names = (collection, f"{collection}-private")
        self._query_cache: dict[str, list[float]] = {}
        self._query_cache_lock = threading.Lock()  # choose() runs in several worker threads
        # A caller's private skills by filter, with the generation they were read at: valid
        # while the global copy's generation stands (every write here bumps it, and another
        # process's write is seen within _RECHECK_S, as for the global copy).
        self._private_rows: dict[tuple[str, str | None], tuple[object, Rows | None]] = {}
        # The exact-search copy of the global collection and the lexical statistics, rebuilt
        # when a write (here or in another process) changes the collection's generation.
        self._rows: Rows | None = None
        self._stats = LexicalStats()
        self._approximate_terms: dict[int, Counter[str]] = {}
        self._generation: object = None
        self._checked_at = 0.0
        self._rows_lock = threading.Lock()
        if rebuild:
            self._drop()
        self._global, self._private = (self._open(name) for name in self._names)

    def _open(self, name: str) -> Collection:
        if name in {c.name for c in self.client.list_collections()}:
            collection = self.client.get_collection(name, embedding_function=None)
            self._check(collection)
            return collection
        return self.client.create_collection(
            name,
            embedding_function=None,
            configuration=cast(Any, {"hnsw": _HNSW}),
            metadata={
                META_BACKEND: self.embedder.name,
                META_DIMENSION: self.embedder.dimension,
                META_GENERATION: uuid.uuid4().hex,
            },
        )

    def _check(self, collection: Collection) -> None:
        meta = collection.metadata or {}
        backend, dimension = meta.get(META_BACKEND), meta.get(META_DIMENSION)
        if backend != self.embedder.name:
            raise EmbeddingMismatchError(
                f"The skill index {collection.name!r} was built with embedding backend "
                f"{backend!r} ({dimension} dimensions), but skills.embedding is "
                f"{self.embedder.name!r}. Vectors of different models cannot be mixed.",
                hint="Set skills.embedding back, or rebuild the index for the new backend with "
                "`evofuse skills reindex` (SQL keeps every version; nothing is lost).",
            )

    @property
    def backend(self) -> str:
        return self.embedder.name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.embedder.embed(list(texts))
        meta = self._global.metadata or {}
        expected = int(cast(int, meta.get(META_DIMENSION, len(vectors[0]) if vectors else 0)))
        for vector in vectors:
            if len(vector) != expected:
                raise EmbeddingMismatchError(
                    f"{self.embedder.name} produced {len(vector)}-dimensional vectors; the skill "
                    f"index {self.collection_name!r} holds {expected}-dimensional ones.",
                    hint="Run `evofuse skills reindex` after changing the embedding model.",
                )
        return vectors

    def upsert(self, entries: Sequence[IndexEntry]) -> None:
        """Index (or re-index) skills; their previous texts are replaced, not merged."""
        if not entries:
            return
        self.delete([e.skill_id for e in entries])
        texts = [text for e in entries for text in e.texts]
        vectors = iter(self.embed(texts))
        batches: dict[str, tuple[list[str], list[Any], list[str], list[dict[str, Any]]]] = {
            "global": ([], [], [], []),
            "private": ([], [], [], []),
        }
        for e in entries:
            ids, embeddings, documents, metadatas = batches[
                "global" if e.scope == "global" else "private"
            ]
            for chunk, text in enumerate(e.texts):
                ids.append(f"skill-{e.skill_id}-{chunk}")
                embeddings.append(next(vectors))
                documents.append(text)
                metadatas.append(
                    {
                        "skill_id": e.skill_id,
                        "chunk": chunk,
                        "name": e.name,
                        "version": e.version,
                        "scope": e.scope,
                        "tenant": e.tenant,
                        "owner": e.owner,
                        "mode": e.mode,
                        "content_hash": e.content_hash,
                    }
                )
        for key, collection in (("global", self._global), ("private", self._private)):
            ids, embeddings, documents, metadatas = batches[key]
            for start in range(0, len(ids), _WRITE_BATCH):
                end = start + _WRITE_BATCH
                collection.add(
                    ids=ids[start:end],
                    embeddings=cast(Any, embeddings[start:end]),
                    documents=documents[start:end],
                    metadatas=cast(Any, metadatas[start:end]),
                )
        self._changed()

    def delete(self, skill_ids: Sequence[int]) -> None:
        if skill_ids:
            where = cast(Any, {"skill_id": {"$in": list(skill_ids)}})
            self._global.delete(where=where)
            self._private.delete(where=where)
            self._changed()

    def _changed(self) -> None:
        """Mark the global collection as written: every process's copy reloads (after the data,
        so a reader that sees the new generation also sees the new rows)."""
        meta = dict(self._global.metadata or {})
        meta[META_GENERATION] = uuid.uuid4().hex
        self._global.modify(metadata=meta)
        with self._rows_lock:
            self._rows = None
            self._generation = None
            self._private_rows.clear()

    def query(
        self,
        text: str,
        *,
        tenant: str,
        owner: str | None,
        k: int,
        lexical_weight: float = 0.0,
    ) -> list[Hit]:
        """The `k` most relevant skills for `text`: similarity + `lexical_weight` x lexical."""
        return self.query_vector(
            self._query_vector(text),
            tenant=tenant,
            owner=owner,
            k=k,
            text=text,
            lexical_weight=lexical_weight,
        )

    def _query_vector(self, text: str) -> list[float]:
        # Recurring tasks (the same prompt from a graph or a retry) skip the model entirely.
        with self._query_cache_lock:
            cached = self._query_cache.get(text)
        if cached is None:
            cached = self.embed([text])[0]  # outside the lock: other queries go on meanwhile
            with self._query_cache_lock:
                if len(self._query_cache) >= _QUERY_CACHE_SIZE:
                    self._query_cache.pop(next(iter(self._query_cache)))  # oldest first
                self._query_cache[text] = cached
        return cached

    def query_vector(
        self,
        vector: Sequence[float],
        *,
        tenant: str,
        owner: str | None,
        k: int,
        text: str | None = None,
        lexical_weight: float = 0.0,
    ) -> list[Hit]:
        """The `k` best skills; a skill's similarity is that of its best-matching text.

        With `text`, each of the best skills also gets its lexical score, and the ranking is by
        similarity + `lexical_weight` x lexical.
        """
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        query = query / norm if norm > 0.0 else query
        pool = max(k, _LEXICAL_POOL) if text is not None else k
        rows = self._exact_rows()
        if rows is not None:
            hits = self._top(rows, query, pool)
        else:
            hits = self._approximate(self._global, None, vector, pool)
        private = self._private_of(tenant, owner)
        if private is not None:
            hits += self._top(private, query, pool)
        if text is not None and lexical_weight > 0.0:
            terms = words(text)
            documents = self._terms(rows, private, {h.skill_id for h in hits})
            hits = [
                with_changes(
                    h, lexical=self._stats.bm25(terms, documents.get(h.skill_id, Counter()))
                )
                for h in hits
            ]
        hits.sort(key=lambda h: (-h.relevance(lexical_weight), -h.similarity, h.name))
        return hits[:k]

    def _private_of(self, tenant: str, owner: str | None) -> Rows | None:
        """The private skills a caller may see (None: none). They are few: fetched by the
        filter and scored exactly (an HNSW search under a filter can miss matches that the
        filter leaves scattered), and kept until the index changes (a fetch took ~1.1 ms)."""
        where = private_filter(tenant, owner)
        if where is None:
            return None
        key = (tenant, owner)  # what the filter is made of
        with self._rows_lock:
            generation = self._generation
            cached = self._private_rows.get(key)
        if cached is not None and generation is not None and cached[0] == generation:
            return cached[1]
        got = self._private.get(
            where=cast(Any, where), include=cast(Any, ["embeddings", "metadatas", "documents"])
        )
        metadatas = got.get("metadatas") or []
        rows = (
            Rows.of(got.get("embeddings"), metadatas, list(got.get("documents") or []))
            if metadatas
            else None
        )
        with self._rows_lock:
            if generation is not None and generation == self._generation:
                if len(self._private_rows) >= _QUERY_CACHE_SIZE:
                    self._private_rows.pop(next(iter(self._private_rows)))  # oldest first
                self._private_rows[key] = (generation, rows)
        return rows

    def _top(self, rows: Rows, query: npt.NDArray[np.float32], n: int) -> list[Hit]:
        best = rows.best(query)
        if len(best) > n:
            chosen = np.argpartition(-best, n - 1)[:n]
        else:
            chosen = np.arange(len(best))
        return [with_changes(rows.hits[i], similarity=float(best[i])) for i in chosen]

    def _approximate(
        self, collection: Collection, where: dict[str, Any] | None, vector: Sequence[float], n: int
    ) -> list[Hit]:
        """Chroma's HNSW search, for a collection too large to copy into memory."""
        result = collection.query(
            query_embeddings=cast(Any, [list(vector)]),
            n_results=n * _TEXTS_PER_HIT,  # a skill's texts may rank next to each other
            where=cast(Any, where),
            include=cast(Any, ["metadatas", "distances"]),
        )
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        best: dict[int, Hit] = {}
        for meta, distance in zip(metadatas, distances, strict=True):
            skill_id = int(cast(int, meta["skill_id"]))
            similarity = 1.0 - float(distance)  # Chroma's cosine distance is 1 - cos
            if skill_id in best and best[skill_id].similarity >= similarity:
                continue
            best[skill_id] = Hit(
                skill_id=skill_id,
                name=str(meta["name"]),
                version=int(cast(int, meta["version"])),
                scope=str(meta["scope"]),
                content_hash=str(meta["content_hash"]),
                similarity=similarity,
            )
        return sorted(best.values(), key=lambda h: -h.similarity)[:n]

    def _terms(
        self, rows: Rows | None, private: Rows | None, skill_ids: set[int]
    ) -> dict[int, Counter[str]]:
        """The word counts of each of `skill_ids`' texts (`private`: the caller's own skills,
        already fetched by the search)."""
        known = rows.terms_by_id if rows is not None else self._approximate_terms
        documents = {i: known.get(i, Counter()) for i in skill_ids}
        if private is not None:  # a skill is either global or private: the ids do not overlap
            documents.update((i, t) for i, t in private.terms_by_id.items() if i in documents)
        return documents

    def _exact_rows(self) -> Rows | None:
        """The in-memory copy of the global collection (None when it is too large), reloaded
        when its generation changed; also refreshes the lexical statistics."""
        now = time.monotonic()
        with self._rows_lock:
            if self._generation is not None and now - self._checked_at < _RECHECK_S:
                return self._rows
            fresh = self.client.get_collection(self.collection_name, embedding_function=None)
            generation = (fresh.metadata or {}).get(META_GENERATION, "")
            self._checked_at = now
            if generation == self._generation:
                return self._rows
            self._load(generation)
            return self._rows

    def _load(self, generation: object) -> None:
        total = self._global.count()
        exact = total <= EXACT_MAX_TEXTS
        include = ["metadatas", "documents"] + (["embeddings"] if exact else [])
        embeddings: list[Any] = []
        metadatas: list[Any] = []
        documents: list[str] = []
        for offset in range(0, total, _READ_PAGE):
            page = self._global.get(include=cast(Any, include), limit=_READ_PAGE, offset=offset)
            metadatas += page.get("metadatas") or []
            documents += [d or "" for d in page.get("documents") or []]
            if exact:
                block = page.get("embeddings")
                if block is not None and len(block):
                    embeddings.append(np.asarray(block, dtype=np.float32))
        self._approximate_terms = {}
        if exact:
            matrix = np.concatenate(embeddings) if embeddings else np.zeros((0, 1), np.float32)
            self._rows = Rows.of(matrix, metadatas, documents)
            self._stats = LexicalStats(self._rows.terms)
        else:
            self._rows = None
            terms: dict[int, Counter[str]] = {}
            for meta, document in zip(metadatas, documents, strict=True):
                terms.setdefault(int(meta["skill_id"]), Counter()).update(words(document))
            self._approximate_terms = terms
            self._stats = LexicalStats(terms.values())
        self._generation = generation

    def snapshot(self) -> dict[int, tuple[int, str]]:
        """skill_id -> (version, content_hash) of everything indexed, to diff against SQL."""
        out: dict[int, tuple[int, str]] = {}
        for collection in (self._global, self._private):
            got = collection.get(where=cast(Any, {"chunk": 0}), include=cast(Any, ["metadatas"]))
            for meta in got.get("metadatas") or []:
                out[int(cast(int, meta["skill_id"]))] = (
                    int(cast(int, meta["version"])),
                    str(meta["content_hash"]),
                )
        return out

    def close(self) -> None:
        """Release the client (HTTP connections, or the embedded database's file handles)."""
        closing: Any = self.client  # close() lives on Client, not on the ClientAPI protocol
        closing.close()
        # Chroma's HTTP client (1.5.x) never closes the httpx sessions of the client and of its
        # internal admin client: their sockets would leak until garbage collection.
        for owner in (closing, getattr(closing, "_admin_client", None)):
            session = getattr(getattr(owner, "_server", None), "_session", None)
            if session is not None:
                session.close()

    def count(self) -> int:
        """How many texts are indexed (a skill has one per description sentence and example)."""
        return int(self._global.count()) + int(self._private.count())

    def rebuild(self) -> None:
        """Drop the collections and start empty, recording the current backend and dimension."""
        self._drop()
        self._global, self._private = (self._open(name) for name in self._names)
        with self._rows_lock:  # the copy of the dropped collection must not answer a query
            self._rows = None
            self._generation = None

    def _drop(self) -> None:
        existing = {c.name for c in self.client.list_collections()}
        for name in self._names:
            if name in existing:
                self.client.delete_collection(name)
