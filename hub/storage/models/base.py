"""The declarative base: one metadata, constraint names stable across backends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, mapped_column

from hub.storage.types import BigId, JSONDoc, UTCDateTime, utcnow

__all__ = ["Base", "Created", "Json", "PkId"]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PkId = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
Created = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
Json = Annotated[Any, mapped_column(JSONDoc)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, str: String(255)}
