"""Current on-demand prices from the AWS Price List Query API, merged into a user price file.

Used by ``hwprof prices refresh`` (the ``aws_pricing`` plugin) and imported only when that command
runs, so boto3 costs nothing to the other commands. The written file holds the whole ``aws`` cost
model with ``override = true``: the fetched on-demand prices dated with the day of the refresh,
and everything the API does not give (Capacity Block and spot prices, the known gaps) copied from
hwprof's built-in snapshot, so the file replaces the snapshot without losing anything.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from hwprof.data import records
from hwprof.errors import HwprofError, ProfileError

if TYPE_CHECKING:
    from hwprof.data.schema import ProfileSet

SOURCE_KEY = "aws-price-list-api"
SOURCE_TITLE = "AWS Price List Query API (GetProducts, AmazonEC2, Linux, shared tenancy, no pre-installed software)"
SOURCE_URL = "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html"
# The Query API answers only in a few regions, whatever region the prices are for.
ENDPOINT_REGION = "us-east-1"
FILENAME = "aws-prices.toml"
INSTALL = "pip install 'hwprof[aws]'"
REGION_CODE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


def make_client() -> Any:
    """A ``pricing`` client with the user's own credentials, or one line saying what is missing."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise HwprofError(f"`hwprof prices refresh` needs boto3, which is not installed: {INSTALL}") from None
    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise HwprofError(
            "`hwprof prices refresh` found no AWS credentials: configure them (`aws configure`, AWS_PROFILE, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) for an identity allowed pricing:GetProducts"
        )
    return session.client("pricing", region_name=ENDPOINT_REGION, config=Config(retries={"mode": "standard"}))


def product_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """One Linux, shared-tenancy, on-demand instance in one region: the list price people quote."""
    wanted = (("instanceType", instance_type), ("regionCode", region), ("operatingSystem", "Linux"),
              ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))  # fmt: skip
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted]


def on_demand_usd(price_list: Iterable[str]) -> set[float]:
    """Hourly USD on-demand prices in GetProducts items (each item is a JSON string).

    An item that is not JSON, or a price that is not a finite number, is refused with one line:
    a half-read answer must not become a price."""
    import json
    import math

    found: set[float] = set()
    for item in price_list:
        try:
            product = json.loads(item)
            attributes = product.get("product", {}).get("attributes", {})
            if attributes.get("marketoption", "OnDemand") != "OnDemand":
                continue
            for term in product.get("terms", {}).get("OnDemand", {}).values():
                for dimension in term.get("priceDimensions", {}).values():
                    raw = dimension.get("pricePerUnit", {}).get("USD", "0")
                    usd = float(raw)
                    if not math.isfinite(usd):
                        raise ValueError(f"price {raw!r}")
                    if usd > 0 and dimension.get("unit", "Hrs") == "Hrs":
                        found.add(usd)
        except (TypeError, ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
            raise HwprofError(f"the AWS Price List API answered with an item hwprof cannot read "
                              f"({type(exc).__name__}: {str(exc)[:80]!r}); nothing was written: try again later") from None  # fmt: skip
    return found


def fetch(client: Any, instance_types: Sequence[str], regions: Sequence[str]) -> dict[tuple[str, str], set[float]]:
    """Distinct on-demand prices per (instance type, region); an empty set where AWS lists none."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    paginator = client.get_paginator("get_products")
    out: dict[tuple[str, str], set[float]] = {}
    try:
        for instance_type in instance_types:
            for region in regions:
                pages = paginator.paginate(ServiceCode="AmazonEC2", FormatVersion="aws_v1",
                                           Filters=product_filters(instance_type, region))  # fmt: skip
                found: set[float] = set()
                for page in pages:
                    found |= on_demand_usd(page.get("PriceList", []))
                out[(instance_type, region)] = found
    except (NoCredentialsError, PartialCredentialsError):
        raise HwprofError(
            "`hwprof prices refresh`: AWS credentials are missing or incomplete: configure them "
            "(`aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); nothing was written"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
            raise HwprofError(
                f"the AWS Price List API throttled the requests ({code}) after retries; nothing was written: "
                "try again in a few minutes, or refresh fewer regions with --region"
            ) from None
        raise HwprofError(
            f"the AWS Price List API refused the request ({code}: {message}); nothing was written: "
            "check that your credentials allow pricing:GetProducts"
        ) from None
    except HwprofError:
        raise
    except (BotoCoreError, OSError, Exception) as exc:  # a dropped connection surfaces as urllib3's or botocore's
        raise HwprofError(
            f"could not query the AWS Price List API ({type(exc).__name__}: {str(exc)[:200]}); "
            "nothing was written: check the connection and try again"
        ) from None
    return out


@attrs.frozen
class Change:
    """What a refresh did to one (instance type, region) on-demand price."""

    system: str
    region: str
    usd_per_hour: float | None  # the price now in the file, None if there is none
    before: records.Price | None
    fetched: bool
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system, "region": self.region, "usd_per_hour": self.usd_per_hour,
                "fetched": self.fetched, "note": self.note,
                "before": {"usd_per_hour": self.before.usd_per_hour, "observed": self.before.observed.isoformat()}
                if self.before else None}  # fmt: skip


def _owned(price: records.Price, snapshot: dict[tuple[str, str, str], records.Price]) -> bool:
    """Whether a price in the user's file is the refresh's to replace: one an earlier refresh fetched,
    or an unchanged copy of the built-in snapshot. Anything else is the user's (a hand edit)."""
    return price.source.key.startswith(SOURCE_KEY) or snapshot.get(_key(price)) == price


def _key(price: records.Price) -> tuple[str, str, str]:
    return price.system, price.region, price.purchase


def merge(
    snapshot: records.CostModel,
    previous: records.CostModel | None,
    fetched: dict[tuple[str, str], set[float]],
    today: dt.date,
) -> tuple[records.CostModel, list[Change]]:
    """The cost model to write: the snapshot, then the previous file's prices, then today's on top.

    The refresh owns only its own entries (``_owned``): a price the user added or edited in the file
    is kept as it is and never replaced by a fetched one (the change says so), and so are the
    user's notes and known gaps. Prices the API does not give are kept with their own dates, so
    staleness still flags them; a known gap for an instance that now has an on-demand price is dropped.
    """
    # One source per refresh day, so a price kept from an earlier refresh keeps its own date.
    source = records.Source(key=f"{SOURCE_KEY}-{today.isoformat()}", title=SOURCE_TITLE, url=SOURCE_URL, date=today)
    built_in = {_key(p): p for p in snapshot.prices}
    prices = dict(built_in)
    mine: set[tuple[str, str, str]] = set()
    for p in previous.prices if previous else ():
        prices[_key(p)] = p
        if not _owned(p, built_in):
            mine.add(_key(p))
    changes: list[Change] = []
    for (system, region), values in sorted(fetched.items()):
        key = (system, region, "on-demand")
        before = prices.get(key)
        if key in mine and before is not None:
            got = f"fetched {', '.join(map(str, sorted(values)))}" if values else "AWS lists none"
            changes.append(Change(system, region, before.usd_per_hour, before, False,
                                  f"kept your price {before.usd_per_hour} ({before.source.key}); {got} "
                                  "(remove yours from the file to take the fetched one)"))  # fmt: skip
            continue
        if len(values) == 1:
            usd = next(iter(values))
            prices[key] = records.Price(
                system=system, region=region, purchase="on-demand", usd_per_hour=usd, observed=today,
                source=source, status="official", note="Linux, shared tenancy, refreshed by `hwprof prices refresh`",
            )  # fmt: skip
            changes.append(Change(system, region, usd, before, fetched=True))
            continue
        why = (f"{len(values)} different prices listed ({', '.join(map(str, sorted(values)))}), none chosen"
               if values else "AWS lists no on-demand price")  # fmt: skip
        kept = f"; kept {before.usd_per_hour} observed {before.observed.isoformat()}" if before else ""
        changes.append(Change(system, region, before.usd_per_hour if before else None, before, False, why + kept))
    priced = {(c.system, c.region) for c in changes if c.fetched}
    gaps = {(m.system, m.purchase, m.region): m for m in (*snapshot.missing, *(previous.missing if previous else ()))}
    missing = tuple(m for m in gaps.values() if m.purchase != "on-demand"
                    or not any(s == m.system and m.region in ("*", r) for s, r in priced))  # fmt: skip
    note = (f"On-demand prices refreshed from the AWS Price List Query API on {today.isoformat()}; the other "
            "prices and gaps are hwprof's built-in snapshot or your own edits, each with its own date.")  # fmt: skip
    own_notes = [
        n for n in (previous.notes if previous else ()) if n not in snapshot.notes and not n.startswith(REFRESH_NOTE)
    ]
    merged = records.CostModel(
        id=snapshot.id, name=snapshot.name, currency=snapshot.currency,
        prices=tuple(sorted(prices.values(), key=lambda p: (p.system, p.purchase, p.region))),
        missing=missing, notes=(*snapshot.notes, *own_notes, note), override=True,
    )  # fmt: skip
    return merged, changes


REFRESH_NOTE = "On-demand prices refreshed from the AWS Price List Query API on "
HEADER = (
    "Written by `hwprof prices refresh`: it replaces hwprof's built-in AWS prices (override = true).\n"
    "The next refresh rewrites the aws cost model's on-demand prices; prices you add or edit, and any\n"
    "other records in this file, are kept. Each refresh first copies this file to NAME.DATE.bak."
)


def read_previous(path: Path) -> ProfileSet | None:
    """Everything in the user's price file, or None when there is none. A file that does not read is
    refused: rewriting it would lose what it holds."""
    from hwprof.data.schema import load_file

    if not path.exists():
        return None
    try:
        return load_file(path)
    except ProfileError as exc:
        raise HwprofError(f"{path} does not read ({exc.problems[0]}); fix it (`hwprof profiles check {path}`) "
                          "or move it away, then refresh again; nothing was written") from None  # fmt: skip


def check_regions(regions: Sequence[str]) -> None:
    for region in regions:
        if not REGION_CODE.match(region):
            raise HwprofError(f"--region {region}: not an AWS region code; expected one like us-east-1 or eu-west-2")


def instance_types(systems: Iterable[records.System]) -> list[str]:
    """The systems that are AWS instances: the ones the Price List can price."""
    return sorted(s.id for s in systems if s.kind == "instance" and INSTANCE_TYPE.match(s.id))


@attrs.frozen
class Refresh:
    path: Path
    backup: Path | None
    cost_model: records.CostModel
    changes: list[Change]
    warnings: list[str]
    written: bool


def refresh(
    client: Any,
    snapshot: records.CostModel,
    types: Sequence[str],
    regions: Sequence[str],
    folder: Path,
    today: dt.date,
    dry_run: bool = False,
) -> Refresh:
    """Fetch, merge, check the result reads back as a valid profile, then write it atomically.

    The file's other records (other cost models, chips, ...) are written back as they were read."""
    from hwprof.data.files import write_atomic
    from hwprof.data.schema import KINDS, load_text
    from hwprof.data.writer import dumps

    check_regions(regions)
    path = folder / FILENAME
    previous = read_previous(path)
    others = [r for kind in KINDS for r in (getattr(previous, kind) if previous else ())
              if not (kind == "cost_model" and r.id == snapshot.id)]  # fmt: skip
    mine = next((m for m in previous.cost_model if m.id == snapshot.id), None) if previous else None
    warnings: list[str] = []
    if mine is not None and not isinstance(mine, records.CostModel):
        raise HwprofError(f"{path}: cost model {snapshot.id!r} is not a price list; nothing was written")
    fetched = fetch(client, types, regions)
    merged, changes = merge(snapshot, mine, fetched, today)
    try:
        text = dumps([*others, merged], header=HEADER)
        load_text(text, str(path))
    except ProfileError as exc:  # a bug here, not the user's: refuse to write a file hwprof can't read
        raise HwprofError(f"refusing to write {path}: the merged prices do not read back ({exc.problems[0]})") from None
    if dry_run:
        return Refresh(path, None, merged, changes, warnings, written=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = write_atomic(path, text, force=True, backup=True)
    return Refresh(path, backup, merged, changes, warnings, written=True)
