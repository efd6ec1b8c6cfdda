"""The demo data generator: shapes, types, determinism and the planted case-study patterns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.demo.generate import AS_OF, BUSINESS_LINES, GeneratedData, generate
from portrait.errors import InputError

USERS = 20_000
CHUNK_USERS = 7_000
LUXURY = "('保时捷', '奔驰', '宝马', '路虎', '奥迪')"
# membership: the user has events in the line in the 360 days ending on the as-of date
MEMBERSHIP_WINDOW = "ts >= TIMESTAMP '2026-10-31' - INTERVAL 359 DAY"


@dataclass(frozen=True)
class Demo:
    """A generated data set plus a DuckDB connection with views over its Parquet parts."""

    result: GeneratedData
    root: Path
    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """All rows of ``sql``."""
        return self.con.sql(sql).fetchall()

    def one(self, sql: str) -> Any:
        """The single value ``sql`` returns."""
        return self.rows(sql)[0][0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """20,000 users in chunks of 7,000 (three parts per data set)."""
    root = tmp_path_factory.mktemp("demo")
    result = generate(root, users=USERS, seed=7, chunk_users=CHUNK_USERS)
    con = duckdb.connect()
    for name in ("users", "events", "orders"):
        con.sql(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{root}/{name}/*.parquet')")
    con.sql(
        f"""
        CREATE TABLE members AS
            SELECT DISTINCT user_id, business_line FROM events WHERE {MEMBERSHIP_WINDOW};
        CREATE TABLE nh AS SELECT user_id FROM members WHERE business_line = 'new_house';
        CREATE VIEW users_nh AS
            SELECT *, user_id IN (SELECT user_id FROM nh) AS is_nh FROM users;
        """
    )
    yield Demo(result=result, root=root, con=con)
    con.close()


def _digest(paths: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


# --------------------------------------------------------------------------- shape and types
def test_result_lists_one_part_per_chunk(demo: Demo) -> None:
    result = demo.result
    assert result.users == USERS
    assert result.as_of == AS_OF == dt.date(2026, 10, 31)
    for name, paths in (
        ("users", result.users_paths),
        ("events", result.events_paths),
        ("orders", result.orders_paths),
    ):
        assert paths == [demo.root / name / f"part-{i:05d}.parquet" for i in range(3)]
        assert all(path.is_file() for path in paths)
    assert result.events == demo.one("SELECT count(*) FROM events")
    assert result.orders == demo.one("SELECT count(*) FROM orders")
    assert demo.one("SELECT count(*) FROM users") == USERS
    assert 40 <= result.events / USERS <= 60  # about 50 events per user


def test_parquet_schemas_are_exact(demo: Demo) -> None:
    string, ts = pa.string(), pa.timestamp("us", tz="UTC")
    expected = {
        "users": [
            ("user_id", string),
            ("gender", string),
            ("age", pa.int16()),
            ("city", string),
            ("education", string),
            ("work_years", pa.int16()),
            ("registered_at", ts),
            ("phone", string),
            ("email", string),
            ("sessions_per_week", pa.int16()),
            ("price_sensitivity", pa.float64()),
            ("social_shares_30d", pa.int16()),
            ("main_interest", string),
            ("loyalty_points", pa.int32()),
            ("planted_persona", string),
        ],
        "events": [
            ("user_id", string),
            ("ts", ts),
            ("event", string),
            ("business_line", string),
            ("house_age", string),
            ("rent_type", string),
            ("car_brand", string),
            ("car_price", pa.float64()),
            ("district", string),
            ("job_category", string),
            ("service_type", string),
            ("item_category", string),
        ],
        "orders": [
            ("order_id", string),
            ("user_id", string),
            ("ts", ts),
            ("amount", pa.float64()),
            ("items", pa.list_(string)),
            ("business_line", string),
        ],
    }
    for name, columns in expected.items():
        for path in (demo.root / name).glob("*.parquet"):
            schema = pq.read_schema(path)
            assert schema.names == [column for column, _ in columns], path
            for (column, want), got in zip(columns, schema.types, strict=True):
                if pa.types.is_list(want):
                    assert pa.types.is_list(got) and got.value_type == string, column
                else:
                    assert got == want, (path, column, got)


def test_users_are_unique_and_well_formed(demo: Demo) -> None:
    assert demo.one("SELECT count(DISTINCT user_id) FROM users") == USERS
    assert demo.rows("SELECT min(user_id), max(user_id) FROM users") == [
        ("u00000000", f"u{USERS - 1:08d}")
    ]
    bad = demo.one(
        r"""
        SELECT count(*) FROM users
        WHERE NOT regexp_full_match(user_id, 'u\d{8}')
           OR NOT regexp_full_match(phone, '1(3\d|5\d|8[6-9])\*{4}\d{4}')
           OR gender NOT IN ('男', '女')
           OR age NOT BETWEEN 18 AND 65
           OR work_years NOT BETWEEN 0 AND age - 18
           OR education NOT IN ('初中及以下', '高中', '大专', '本科', '硕士', '博士')
           OR city NOT IN ('北京', '上海', '广州', '深圳', '杭州', '成都', '武汉', '南京',
                           '西安', '重庆', '天津', '苏州')
           OR registered_at NOT BETWEEN TIMESTAMP '2019-01-01' AND TIMESTAMP '2026-11-01'
        """
    )
    assert bad == 0
    # work years grow with age
    assert demo.one("SELECT corr(age, work_years) FROM users") > 0.8
    # big cities are the biggest
    top = [
        city
        for city, _ in demo.rows("SELECT city, count(*) n FROM users GROUP BY 1 ORDER BY 2 DESC")
    ]
    assert set(top[:2]) == {"北京", "上海"}


def test_events_and_orders_belong_to_known_users(demo: Demo) -> None:
    for table in ("events", "orders"):
        orphans = demo.one(
            f"SELECT count(*) FROM {table} WHERE user_id NOT IN (SELECT user_id FROM users)"
        )
        assert orphans == 0, table
    early = demo.one(
        "SELECT count(*) FROM events e JOIN users u USING (user_id) WHERE e.ts < u.registered_at"
    )
    assert early == 0


def test_order_ids_are_unique_across_chunks(demo: Demo) -> None:
    n, distinct, malformed = demo.rows(
        r"""SELECT count(*), count(DISTINCT order_id),
                   count(*) FILTER (WHERE NOT regexp_full_match(order_id, 'o\d{10}'))
            FROM orders"""
    )[0]
    assert n == distinct > 1_000
    assert malformed == 0
    assert demo.one("SELECT count(DISTINCT business_line) FROM orders") == 1
    assert demo.one("SELECT min(business_line) FROM orders") == "beauty_shop"


def test_events_span_the_year_ending_on_the_as_of_date(demo: Demo) -> None:
    last, first, days = demo.rows(
        "SELECT max(ts)::DATE, min(ts)::DATE, count(DISTINCT ts::DATE) FROM events"
    )[0]
    assert last == AS_OF
    assert first == AS_OF - dt.timedelta(days=364)
    assert days == 365


def test_event_names_fit_each_line(demo: Demo) -> None:
    names = {
        line: set(events)
        for line, events in demo.rows(
            "SELECT business_line, list(DISTINCT event) FROM events GROUP BY 1"
        )
    }
    assert set(names) == set(BUSINESS_LINES)
    house = {"view", "search", "favorite", "im", "appointment", "sign", "push_click"}
    assert names["new_house"] == names["second_hand_house"] == house
    assert names["recruitment"] <= house - {"sign"}
    assert names["beauty_shop"] == {"view", "search", "favorite", "cart_add", "order", "push_click"}
    assert all("push_click" in events for events in names.values())
    push_share = demo.one("SELECT avg((event = 'push_click')::INT) FROM events")
    assert 0.01 < push_share < 0.06


def test_properties_are_set_only_in_their_line(demo: Demo) -> None:
    owners = {
        "house_age": "second_hand_house",
        "rent_type": "rent",
        "car_brand": "used_car",
        "car_price": "used_car",
        "district": "new_house",
        "job_category": "recruitment",
        "service_type": "local_services",
        "item_category": "beauty_shop",
    }
    for column, line in owners.items():
        wrong = demo.one(
            f"""SELECT count(*) FROM events
                WHERE ({column} IS NOT NULL) != (business_line = '{line}')"""
        )
        assert wrong == 0, column
    luxury_lo, luxury_hi, mass_lo, mass_hi = demo.rows(
        f"""SELECT min(car_price) FILTER (WHERE car_brand IN {LUXURY}),
                   max(car_price) FILTER (WHERE car_brand IN {LUXURY}),
                   min(car_price) FILTER (WHERE car_brand NOT IN {LUXURY}),
                   max(car_price) FILTER (WHERE car_brand NOT IN {LUXURY})
            FROM events WHERE business_line = 'used_car'"""
    )[0]
    assert luxury_lo >= 30 and luxury_hi <= 150
    assert mass_lo >= 5 and mass_hi <= 25


def test_recency_and_frequency_have_spread(demo: Demo) -> None:
    recent, churned, median, p99 = demo.rows(
        """WITH r AS (
               SELECT date_diff('day', max(ts)::DATE, DATE '2026-10-31') AS recency,
                      count(*) AS frequency
               FROM events GROUP BY user_id)
           SELECT avg((recency <= 7)::INT), avg((recency > 60)::INT),
                  median(frequency), quantile_cont(frequency, 0.99)
           FROM r"""
    )[0]
    assert recent > 0.4  # most users were active in the last week
    assert 0.1 < churned < 0.35  # a fraction churned months ago
    assert p99 > 10 * median  # heavy-tailed activity


# --------------------------------------------------------------------------- planted patterns
@pytest.mark.parametrize(
    ("line", "share"),
    [
        ("new_house", 0.05),
        ("second_hand_house", 0.075),
        ("rent", 0.10),
        ("recruitment", 0.15),
        ("used_car", 0.05),
        ("local_services", 0.10),
        ("beauty_shop", 0.20),
    ],
)
def test_line_sizes(demo: Demo, line: str, share: float) -> None:
    size = demo.one(f"SELECT count(*) FROM members WHERE business_line = '{line}'")
    assert size / USERS == pytest.approx(share, rel=0.12)


def test_overlaps_with_new_house(demo: Demo) -> None:
    rows = demo.rows(
        """SELECT business_line, count(*) AS both,
                  (SELECT count(*) FROM members x WHERE x.business_line = m.business_line) AS line
           FROM members m JOIN nh USING (user_id) GROUP BY 1"""
    )
    overlap = {line: (both, size) for line, both, size in rows}
    nh = overlap["new_house"][0]
    assert overlap["second_hand_house"][0] / nh == pytest.approx(0.40, abs=0.05)
    assert overlap["rent"][0] / nh == pytest.approx(0.25, abs=0.05)
    for line, share_of_line in (
        ("used_car", 0.18),
        ("recruitment", 0.06),
        ("local_services", 0.06),
    ):
        both, size = overlap[line]
        assert both / size == pytest.approx(share_of_line, abs=0.3 * share_of_line), line


def test_new_house_users_are_30_to_40_with_long_careers(demo: Demo) -> None:
    def tgi(condition: str) -> float:
        return float(
            demo.one(
                f"""SELECT avg(({condition})::INT) FILTER (WHERE is_nh) / avg(({condition})::INT)
                    FROM users_nh"""
            )
        )

    assert tgi("age BETWEEN 35 AND 40") == pytest.approx(2.0, abs=0.3)
    assert 0.45 < tgi("age <= 20") < 1.0
    assert tgi("work_years >= 10") > 1.2
    nh_share, all_share = demo.rows(
        """SELECT avg((work_years >= 10)::INT) FILTER (WHERE is_nh),
                  avg((work_years >= 10)::INT) FROM users_nh"""
    )[0]
    assert nh_share - all_share > 0.1


def test_new_house_events_happen_in_the_evening(demo: Demo) -> None:
    shares = dict(
        demo.rows(
            """SELECT business_line = 'new_house',
                      avg((hour(ts + INTERVAL 8 HOUR) >= 19)::INT)  -- Asia/Shanghai
               FROM events GROUP BY 1"""
        )
    )
    assert shares[True] == pytest.approx(0.47, abs=0.03)
    assert shares[False] == pytest.approx(0.25, abs=0.03)


def test_new_house_users_prefer_luxury_cars(demo: Demo) -> None:
    shares = {
        is_nh: (luxury, porsche)
        for is_nh, luxury, porsche in demo.rows(
            f"""SELECT user_id IN (SELECT user_id FROM nh),
                       avg((car_brand IN {LUXURY})::INT), avg((car_brand = '保时捷')::INT)
                FROM events WHERE business_line = 'used_car' GROUP BY 1"""
        )
    }
    assert shares[True][0] > 0.65
    assert shares[False][0] < 0.3
    assert shares[True][1] > 20 * shares[False][1]
    # user level: NH users' share among Porsche viewers far exceeds their share of used_car users
    porsche_tgi = demo.one(
        """WITH u AS (
               SELECT user_id, bool_or(car_brand = '保时捷') AS porsche,
                      user_id IN (SELECT user_id FROM nh) AS is_nh
               FROM events WHERE business_line = 'used_car' GROUP BY user_id)
           SELECT avg(porsche::INT) FILTER (WHERE is_nh) / avg(porsche::INT) FROM u"""
    )
    assert porsche_tgi > 3


def test_new_house_users_rent_whole_flats_and_prefer_young_houses(demo: Demo) -> None:
    rent = dict(
        demo.rows(
            """SELECT user_id IN (SELECT user_id FROM nh), avg((rent_type = '整租')::INT)
               FROM events WHERE business_line = 'rent' GROUP BY 1"""
        )
    )
    assert rent[True] == pytest.approx(0.94, abs=0.04)
    assert rent[False] == pytest.approx(0.35, abs=0.06)
    young = dict(
        demo.rows(
            """SELECT user_id IN (SELECT user_id FROM nh),
                      avg((house_age IN ('2年以内', '2-5年'))::INT)
               FROM events WHERE business_line = 'second_hand_house' GROUP BY 1"""
        )
    )
    assert young[True] > 0.55
    assert young[True] - young[False] > 0.2


@pytest.mark.parametrize(
    ("antecedent", "consequent", "confidence"),
    [
        ("lipstick", "lip_balm", 0.40),
        ("foundation", "makeup_remover", 0.35),
        ("cleanser", "toner", 0.50),
    ],
)
def test_beauty_association_rules(
    demo: Demo, antecedent: str, consequent: str, confidence: float
) -> None:
    measured, baseline = demo.rows(
        f"""SELECT avg(list_contains(items, '{consequent}')::INT)
                       FILTER (WHERE list_contains(items, '{antecedent}')),
                   avg(list_contains(items, '{consequent}')::INT)
            FROM orders"""
    )[0]
    assert measured == pytest.approx(confidence, abs=0.07)
    assert measured / baseline > 1.8  # lift


def test_serum_leads_to_anti_aging_cream_for_older_buyers(demo: Demo) -> None:
    older, younger = demo.rows(
        """SELECT avg(list_contains(items, 'anti_aging_cream')::INT) FILTER (WHERE age >= 30),
                  avg(list_contains(items, 'anti_aging_cream')::INT) FILTER (WHERE age < 30)
           FROM orders JOIN users USING (user_id) WHERE list_contains(items, 'serum')"""
    )[0]
    assert older > 0.4
    assert older - younger > 0.2


def test_beauty_shop_users_are_mostly_women(demo: Demo) -> None:
    female = demo.one(
        """SELECT avg((gender = '女')::INT) FROM users
           WHERE user_id IN (SELECT user_id FROM members WHERE business_line = 'beauty_shop')"""
    )
    assert female > 0.75


def test_orders_are_also_order_events(demo: Demo) -> None:
    orders, matched, order_events = demo.rows(
        """SELECT (SELECT count(*) FROM orders),
                  (SELECT count(*) FROM orders o WHERE EXISTS (
                       SELECT 1 FROM events e
                       WHERE e.user_id = o.user_id AND e.ts = o.ts AND e.event = 'order'
                         AND e.business_line = 'beauty_shop')),
                  (SELECT count(*) FROM events WHERE event = 'order')"""
    )[0]
    assert orders == matched == order_events
    sizes = demo.rows(
        """SELECT min(len(items)), max(len(items)),
                  count(*) FILTER (WHERE len(list_distinct(items)) != len(items)),
                  count(*) FILTER (WHERE amount != round(amount, 2) OR amount <= 0)
           FROM orders"""
    )[0]
    assert sizes == (1, 4, 0, 0)


# --------------------------------------------------------------------------- behaviour
def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", users=3_000, seed=7, chunk_users=1_000)
    second = generate(tmp_path / "b", users=3_000, seed=7, chunk_users=1_000)
    assert (first.events, first.orders) == (second.events, second.orders)
    for paths_a, paths_b in (
        (first.users_paths, second.users_paths),
        (first.events_paths, second.events_paths),
        (first.orders_paths, second.orders_paths),
    ):
        assert _digest(paths_a) == _digest(paths_b)


def test_different_seeds_give_different_data(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", users=3_000, seed=7, chunk_users=1_000)
    other = generate(tmp_path / "b", users=3_000, seed=8, chunk_users=1_000)
    assert first.users_paths[0].read_bytes() != other.users_paths[0].read_bytes()
    assert first.events != other.events


def test_rerun_replaces_old_parts(tmp_path: Path) -> None:
    generate(tmp_path, users=3_000, seed=7, chunk_users=1_000)
    result = generate(tmp_path, users=500, seed=7, chunk_users=1_000)
    for name in ("users", "events", "orders"):
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["part-00000.parquet"]
    users = pq.read_table(tmp_path / "users").num_rows
    assert users == result.users == 500


class _Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, step: str, total: float | None = None) -> None:
        self.calls.append(("start", (step, total)))

    def advance(self, amount: float = 1) -> None:
        self.calls.append(("advance", amount))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def test_progress_reports_users(tmp_path: Path) -> None:
    progress = _Recorder()
    generate(tmp_path, users=2_500, chunk_users=1_000, progress=progress)
    assert progress.calls[0] == ("start", ("generate demo data", 2_500))
    assert progress.calls[-1] == ("finish", None)
    assert [amount for kind, amount in progress.calls if kind == "advance"] == [1_000, 1_000, 500]


@pytest.mark.parametrize("kwargs", [{"users": 0}, {"chunk_users": 0}, {"seed": -1}])
def test_bad_arguments_are_input_errors(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        generate(tmp_path, **kwargs)
