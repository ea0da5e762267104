"""The Chroma index of active skill versions. The only module that talks to Chroma.

SQL is the source of truth; this index is derived from it and can always be rebuilt. Vectors are
computed by EvoFuse's own embedder and handed to Chroma, whose default embedding function (an
ONNX download) is never used. The collection records which backend and dimension built it, and
refuses vectors from any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from evofuse.errors import ConfigError, UserError
from evofuse.skills.embeddings import Embedder

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

COLLECTION = "evofuse-skills"
META_BACKEND = "evofuse_embedding_backend"
META_DIMENSION = "evofuse_embedding_dimension"
_TEXTS_PER_HIT = 4
_QUERY_CACHE_SIZE = 1024
_WRITE_BATCH = 1000  # Chroma caps the records per call (max_batch_size, ~5k on SQLite builds)


class EmbeddingMismatchError(UserError):
    """The index was built by another embedding backend or dimension."""

    code = "embedding_mismatch"
    http_status = 409


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


@dataclass(frozen=True)
class Hit:
    skill_id: int
    name: str
    version: int
    scope: str
    content_hash: str
    similarity: float  # cosine similarity in [-1, 1]


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
            configuration={"hnsw": {"space": "cosine"}},
            metadata={META_BACKEND: self.embedder.name, META_DIMENSION: self.embedder.dimension},
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

    def delete(self, skill_ids: Sequence[int]) -> None:
        if skill_ids:
            where = cast(Any, {"skill_id": {"$in": list(skill_ids)}})
            self._global.delete(where=where)
            self._private.delete(where=where)

    def query(self, text: str, *, tenant: str, owner: str | None, k: int) -> list[Hit]:
        return self.query_vector(self._query_vector(text), tenant=tenant, owner=owner, k=k)

    def _query_vector(self, text: str) -> list[float]:
        # Recurring tasks (the same prompt from a graph or a retry) skip the model entirely.
        cached = self._query_cache.get(text)
        if cached is None:
            cached = self.embed([text])[0]
            if len(self._query_cache) >= _QUERY_CACHE_SIZE:
                self._query_cache.pop(next(iter(self._query_cache)))  # oldest first
            self._query_cache[text] = cached
        return cached

    def query_vector(
        self, vector: Sequence[float], *, tenant: str, owner: str | None, k: int
    ) -> list[Hit]:
        """The `k` best skills; a skill's similarity is that of its best-matching text."""
        where = private_filter(tenant, owner)
        searches = [(self._global, None)] + ([(self._private, where)] if where else [])
        best: dict[int, Hit] = {}
        for collection, condition in searches:
            result = collection.query(
                query_embeddings=cast(Any, [list(vector)]),
                n_results=k * _TEXTS_PER_HIT,  # a skill's texts may rank next to each other
                where=cast(Any, condition),
                include=cast(Any, ["metadatas", "distances"]),
            )
            metadatas = (result.get("metadatas") or [[]])[0]
            distances = (result.get("distances") or [[]])[0]
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
        return sorted(best.values(), key=lambda h: -h.similarity)[:k]

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

    def _drop(self) -> None:
        existing = {c.name for c in self.client.list_collections()}
        for name in self._names:
            if name in existing:
                self.client.delete_collection(name)
