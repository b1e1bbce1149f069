"""Realistic demo data for demos and benchmarks: users, categories, tags and published articles.

Rows are inserted in batches straight into the primary (one transaction per batch); passwords are hashed
once and shared by the demo users, since hashing thousands at 12 rounds would take minutes for nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError

from neurmatic.db.engines import Database
from neurmatic.domain.articles.models import Article, ArticleStatus, Category, Tag, article_tags
from neurmatic.domain.articles.slugs import slugify
from neurmatic.domain.users.models import User
from neurmatic.domain.users.passwords import hash_password
from neurmatic.settings import Settings

DEMO_PASSWORD = "Demo-Password-2026"  # noqa: S105 - documented demo credential for seeded accounts
SETTLED_TABLES = ("users", "articles", "article_tags", "article_counts")
CATEGORIES = ("Research", "Open Source", "Tooling", "Industry", "Tutorials", "Safety")
TAGS = (
    "llm",
    "rag",
    "fine-tuning",
    "agents",
    "evaluation",
    "inference",
    "quantization",
    "embeddings",
    "prompting",
    "benchmarks",
    "transformers",
    "datasets",
)
SUBJECTS = (
    "Retrieval augmented generation",
    "Speculative decoding",
    "Mixture of experts",
    "LoRA adapters",
    "KV cache compression",
    "Tool-using agents",
    "Long-context evaluation",
    "Int4 quantization",
    "Synthetic data pipelines",
    "Preference optimisation",
    "Embedding search",
    "Guardrails",
)
ANGLES = (
    "in production",
    "explained",
    "at scale",
    "on a budget",
    "for beginners",
    "benchmarked",
    "lessons learned",
    "a field guide",
    "pitfalls",
    "in 2026",
)
BATCH = 500


@dataclass(frozen=True)
class SeedResult:
    users: int
    articles: int
    unsettled: list[str] = field(default_factory=list)  # tables left to autovacuum, with why


async def _settle(db: Database) -> list[str]:
    """Vacuum and analyze what was inserted, as after any bulk load, so the data is served at its usual
    speed at once; the tables that could not be, with why. Left to autovacuum, the first minutes after a
    seed were measured slower: the signed-in list's p99 was 72 ms where it is 41-47 ms once settled
    (docs/performance.md). Only an optimisation: the rows are committed already, so a failure here is
    reported, not raised. One table per statement, without the app's statement timeout (a large seed's
    vacuum takes longer than a request may)."""
    unsettled = []
    async with db.primary.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("SET statement_timeout = 0")
        for table in SETTLED_TABLES:
            try:
                await autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            except DBAPIError as exc:
                unsettled.append(f"{table}: {str(exc.orig).strip() or type(exc.orig).__name__}")
    return unsettled


def _paragraphs(rng: random.Random, subject: str) -> str:
    sentences = [
        f"{subject} changes how teams ship language models.",
        "We measured latency, cost and quality on real traffic.",
        "The results surprised us more than once.",
        "Here is what we would do again, and what not.",
        "Numbers are from a two-node cluster with commodity GPUs.",
    ]
    return "".join(f"<p>{' '.join(rng.sample(sentences, 3))}</p>" for _ in range(rng.randint(3, 6)))


async def seed(
    settings: Settings, *, users: int, articles: int, progress: Callable[[int], None], seed_value: int = 2026
) -> SeedResult:
    rng = random.Random(seed_value)  # noqa: S311 - demo data: reproducible, not secret
    db = Database(settings.database)
    run = uuid.uuid4().hex[:6]
    try:
        password_hash = await hash_password(DEMO_PASSWORD, settings.auth.bcrypt_rounds)
        async with db.session() as session:
            for name in CATEGORIES:
                if await session.scalar(select(Category.id).where(Category.slug == slugify(name))) is None:
                    session.add(Category(slug=slugify(name), name=name))
            for name in TAGS:
                if await session.scalar(select(Tag.id).where(Tag.slug == name)) is None:
                    session.add(Tag(slug=name, name=name))
            await session.commit()
            category_ids = list((await session.scalars(select(Category.id))).all())
            tag_ids = list((await session.scalars(select(Tag.id).where(Tag.slug.in_(TAGS)))).all())
            user_ids = [uuid.uuid4() for _ in range(users)]
            for start in range(0, users, BATCH):
                await session.execute(
                    insert(User),
                    [
                        {
                            "id": uid,
                            "email": f"demo-{run}-{start + i}@example.com",
                            "username": f"demo_{run}_{start + i}",
                            "password_hash": password_hash,
                            "email_verified_at": datetime.now(UTC),
                            "terms_accepted_at": datetime.now(UTC),
                        }
                        for i, uid in enumerate(user_ids[start : start + BATCH])
                    ],
                )
                await session.commit()
            now = datetime.now(UTC)
            for start in range(0, articles, BATCH):
                rows, links = [], []
                for i in range(start, min(articles, start + BATCH)):
                    subject = rng.choice(SUBJECTS)
                    title = f"{subject} {rng.choice(ANGLES)} #{i}"
                    article_id = uuid.uuid4()
                    rows.append(
                        {
                            "id": article_id,
                            "slug": f"{slugify(title)}-{run}",
                            "title": title,
                            "summary": f"What we learned about {subject.lower()}.",
                            "body_html": _paragraphs(rng, subject),
                            "status": ArticleStatus.PUBLISHED,
                            "author_id": rng.choice(user_ids),
                            "category_id": rng.choice(category_ids),
                            "published_at": now - timedelta(minutes=rng.randint(1, 60 * 24 * 365)),
                            "views": rng.randint(0, 50_000),
                        }
                    )
                    links += [{"article_id": article_id, "tag_id": t} for t in rng.sample(tag_ids, 3)]
                await session.execute(insert(Article), rows)
                # One statement (not one per link): PostgreSQL derives each article's tag_slugs once.
                await session.execute(insert(article_tags).values(links))
                await session.commit()
                progress(len(rows))
        return SeedResult(users, articles, unsettled=await _settle(db))
    finally:
        await db.close()
