"""The catalog schema: products and their images. Alembic migrations create it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.json_values import same_json

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The largest id a row can have on every supported database: ids are INTEGER columns, 32-bit
# on PostgreSQL. Ids from outside are checked against it before any query is built.
ID_MAX = 2**31 - 1


class StrictJSON(JSON):
    """JSON whose change tracking tells true from 1 and 1.0 from 1, as JSON and Qdrant filters do.

    The ORM compares a column's old and new value with this type's `compare_values`, which is
    Python's == by default: setting an attribute from true to 1 would write nothing.
    """

    def compare_values(self, x: Any, y: Any) -> bool:
        return same_json(x, y)


JSONDocument = StrictJSON().with_variant(JSONB(), "postgresql")


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with the zone. Times are stored in UTC, and SQLite hands them back without a zone:
    without this a read said "2026-12-03T09:00:00" where the write that made it said "...+00:00"."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), index=True)
    brand: Mapped[str] = mapped_column(String(100), default="", index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    in_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)

    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="ProductImage.position, ProductImage.id",
        passive_deletes=True,
    )


class ProductImage(Base):
    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    original_name: Mapped[str] = mapped_column(String(300), default="")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    product: Mapped[Product] = relationship(back_populates="images")


class SearchIndex(Base):
    """A vector collection built with one model; exactly one is active (searched) at a time."""

    __tablename__ = "search_indexes"

    collection: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_spec: Mapped[str] = mapped_column(String(500))
    model_key: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="building")  # building | active | retired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SyncStatus(Base):
    """The one row that says what the last or the running sync is doing, whichever process runs it."""

    __tablename__ = "sync_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str] = mapped_column(String(40), default="idle")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str] = mapped_column(String(300), default="")  # host:pid of the running sync
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
