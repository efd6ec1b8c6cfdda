"""The demo scenario: a 58.com-like classifieds platform with a beauty e-commerce shop.

Everything the demo data is made of, apart from the code that draws it
(:mod:`portrait.demo.generate`): business lines and their events, who the users are (ages,
cities, education), the properties of each line, the shop's products and baskets, times of
day, volumes, and the patterns planted for the analyses to find.

Planted patterns (modelled on a published 58.com new-house audience case study), with line
membership meaning "has events in that business line in the last 360 days":

* line sizes: new_house 5%, second_hand_house 7.5%, rent 10%, recruitment 15%, used_car 5%,
  local_services 10%, beauty_shop 20% of all users;
* overlaps with new_house (NH): 40% of NH also second-hand, 25% of NH also rent, NH is 18% of
  used_car, 6% of recruitment and 6% of local_services;
* NH users skew to ages 30-40 and 10+ work years (TGI of 35-40-year-olds about 200);
* NH users' new_house events cluster in 19:00-24:00 Beijing time (about 47% vs about 25%);
* NH users prefer luxury cars (Porsche is very rare otherwise), whole-flat rents (about 94% vs
  35%) and young second-hand houses;
* beauty orders follow association rules (lipstick -> lip_balm, foundation -> makeup_remover,
  cleanser -> toner, and serum -> anti_aging_cream for users aged 30+), and every order is also
  an ``order`` event at the same timestamp.

Behaviour is planned in local time (Asia/Shanghai, UTC+8). Changing a value here changes the
generated data (and the tests that check the planted patterns).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import numpy as np
import numpy.typing as npt

# --------------------------------------------------------------------------- time
AS_OF: Final = dt.date(2026, 10, 31)
"""The fixed as-of date: the last event happens on this day (UTC and local)."""
TZ_S: Final = 8 * 3_600  # Asia/Shanghai is UTC+8 all year
REGISTRATION_START: Final = dt.date(2019, 1, 1)
"""Users register from this day to the as-of date (22:00 local), more of them recently."""
WINDOW_DAYS: Final = 363  # local days before as-of: UTC dates then span exactly 365 days
ANCHOR_DAYS: Final = 355  # each membership has one event well inside the 360-day window

# --------------------------------------------------------------------------- business lines
BUSINESS_LINES: Final = (
    "new_house",
    "second_hand_house",
    "rent",
    "recruitment",
    "used_car",
    "local_services",
    "beauty_shop",
)
NH, SH, RENT, JOB, CAR, LOCAL, BEAUTY = range(7)

LINE_SHARE: Final = np.array([0.05, 0.075, 0.10, 0.15, 0.05, 0.10, 0.20])
"""Share of all users that are members of each line."""

P_GIVEN_NH: Final = np.array(
    [
        1.0,
        0.40,  # |NH & second_hand| = 40% of |NH|
        0.25,  # |NH & rent| = 25% of |NH|
        0.06 * 0.15 / 0.05,  # |NH & recruitment| = 6% of |recruitment|
        0.18 * 0.05 / 0.05,  # |NH & used_car| = 18% of |used_car|
        0.06 * 0.10 / 0.05,  # |NH & local_services| = 6% of |local_services|
        0.15,  # not published: a plausible beauty share among NH users
    ]
)
P_GIVEN_OTHER: Final = (LINE_SHARE - P_GIVEN_NH * LINE_SHARE[NH]) / (1 - LINE_SHARE[NH])

LINE_INTENSITY: Final = np.array([1.3, 1.2, 1.0, 1.0, 0.9, 0.5, 0.8])
"""Relative number of events a member produces in each line."""

EVENTS: Final = (
    "view",
    "search",
    "favorite",
    "im",
    "appointment",
    "sign",
    "cart_add",
    "order",
    "push_click",
)
ORDER_EVENT: Final = EVENTS.index("order")

#                      view  search  fav    im    appt   sign  cart  order  push
_HOUSE_MIX: Final = [0.52, 0.20, 0.10, 0.09, 0.045, 0.01, 0.0, 0.0, 0.035]
EVENT_MIX: Final = np.array(
    [
        _HOUSE_MIX,
        _HOUSE_MIX,
        [0.50, 0.20, 0.10, 0.12, 0.04, 0.01, 0.0, 0.0, 0.03],
        [0.55, 0.22, 0.08, 0.08, 0.04, 0.0, 0.0, 0.0, 0.03],
        [0.55, 0.20, 0.10, 0.09, 0.03, 0.0, 0.0, 0.0, 0.03],
        [0.50, 0.22, 0.06, 0.12, 0.07, 0.0, 0.0, 0.0, 0.03],
        [0.58, 0.18, 0.10, 0.0, 0.0, 0.0, 0.11, 0.0, 0.03],  # orders come from the orders table
    ]
)
"""Per line, the share of each event (orders of the shop come from the orders table)."""

# --------------------------------------------------------------------------- users
GENDERS: Final = ("男", "女")
P_FEMALE: Final = 0.47
# fmt: off
AGE_BANDS: Final = np.array(
    [(18, 20), (21, 25), (26, 30), (31, 34), (35, 40), (41, 45), (46, 50), (51, 55), (56, 60),
     (61, 65)]
)
# fmt: on
AGE_BAND_P: Final = np.array([0.07, 0.16, 0.19, 0.14, 0.17, 0.10, 0.07, 0.05, 0.03, 0.02])

# fmt: off
CITIES: Final = ("北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆",
                 "天津", "苏州")
# fmt: on
CITY_P: Final = np.array([0.14, 0.14, 0.10, 0.10, 0.08, 0.09, 0.07, 0.06, 0.06, 0.07, 0.05, 0.04])
DISTRICTS: Final = (
    ("朝阳", "海淀", "通州", "大兴"),
    ("浦东", "闵行", "嘉定", "松江"),
    ("天河", "番禺", "白云", "黄埔"),
    ("南山", "福田", "宝安", "龙岗"),
    ("西湖", "余杭", "滨江", "萧山"),
    ("高新", "天府新区", "武侯", "双流"),
    ("光谷", "江汉", "武昌", "汉阳"),
    ("江宁", "建邺", "鼓楼", "浦口"),
    ("雁塔", "曲江", "未央", "长安"),
    ("渝北", "江北", "南岸", "沙坪坝"),
    ("滨海新区", "南开", "河西", "西青"),
    ("工业园区", "吴中", "姑苏", "相城"),
)
"""Four districts per city of :data:`CITIES`, in the same order."""
DISTRICT_NAMES: Final = tuple(d for city in DISTRICTS for d in city)
DISTRICT_P: Final = np.array([0.35, 0.30, 0.20, 0.15])

EDUCATION: Final = ("初中及以下", "高中", "大专", "本科", "硕士", "博士")
EDU_P: Final = np.array([0.14, 0.24, 0.28, 0.26, 0.07, 0.01])
EDU_START_AGE: Final = np.array([18, 19, 21, 22, 25, 28])  # plus a 0-4 year gap
EDU_CAP_BY_AGE: Final = np.select(
    [np.arange(66) < 20, np.arange(66) < 22, np.arange(66) < 25, np.arange(66) < 28],
    [1, 2, 3, 4],
    5,
)
"""Highest education level reachable at each age (index = age)."""

PHONE_PREFIXES: Final = tuple(
    str(p) for p in (*range(130, 140), *range(150, 160), *range(186, 190))
)

# New-house propensity: by age (index = age) and by work-years band (<5, 5-9, 10+).
NH_AGE_W: Final = np.select(
    [
        np.arange(66) <= 20,
        np.arange(66) <= 25,
        np.arange(66) <= 29,
        np.arange(66) <= 34,
        np.arange(66) <= 40,
        np.arange(66) <= 45,
        np.arange(66) <= 55,
    ],
    [1.80, 1.35, 1.20, 1.20, 1.80, 1.00, 0.60],
    0.40,
)
NH_WORK_W: Final = np.array([0.6, 1.0, 1.7])


def line_weights(
    age: npt.NDArray[np.int64], female: npt.NDArray[np.bool_], education: npt.NDArray[np.int64]
) -> dict[int, npt.NDArray[np.float64]]:
    """Per user, the relative chance of joining each line but new_house (which the weights
    above decide), in the order the lines are drawn."""
    return {
        SH: np.where((age >= 28) & (age <= 50), 1.3, 0.7),
        RENT: np.select([age <= 30, age <= 40], [1.6, 1.0], 0.5),
        JOB: np.select([age <= 30, age <= 45], [1.5, 1.0], 0.6)
        * np.where(education <= 2, 1.2, 0.9),
        CAR: np.where(female, 0.5, 1.6),
        LOCAL: np.where(age >= 30, 1.3, 0.8),
        BEAUTY: np.where(female, 6.0, 1.0) * np.where(age <= 40, 1.2, 0.7),
    }


# --------------------------------------------------------------------------- properties
HOUSE_AGES: Final = ("2年以内", "2-5年", "5-10年", "10-20年", "20年以上")
HOUSE_AGE_P: Final = np.array([[0.10, 0.20, 0.30, 0.26, 0.14], [0.34, 0.33, 0.18, 0.10, 0.05]])
RENT_TYPES: Final = ("整租", "合租", "单间")
RENT_TYPE_P: Final = np.array([[0.35, 0.40, 0.25], [0.94, 0.04, 0.02]])
LUXURY_BRANDS: Final = ("保时捷", "奔驰", "宝马", "路虎", "奥迪")
CAR_BRANDS: Final = (*LUXURY_BRANDS, "大众", "丰田", "本田", "比亚迪", "别克", "日产", "吉利")
CAR_BRAND_P: Final = np.array(
    [
        [0.001, 0.05, 0.05, 0.02, 0.06, 0.20, 0.17, 0.14, 0.12, 0.08, 0.07, 0.039],
        [0.10, 0.20, 0.20, 0.12, 0.16, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.01],
    ]
)
# fmt: off
CAR_PRICE_RANGE: Final = np.array(  # 万元, by CAR_BRANDS
    [[70, 150], [30, 100], [30, 90], [45, 120], [30, 70],
     [8, 25], [8, 25], [7, 22], [6, 25], [6, 20], [5, 18], [5, 15]],
    dtype=np.float64,
)
# fmt: on
# fmt: off
JOBS: Final = ("普工", "销售", "司机", "餐饮", "客服", "技工", "行政", "IT互联网", "财务",
               "教育培训")
# fmt: on
JOB_P: Final = np.array(
    [
        [0.20, 0.16, 0.12, 0.14, 0.10, 0.12, 0.05, 0.03, 0.03, 0.05],  # up to 大专
        [0.03, 0.18, 0.03, 0.03, 0.08, 0.05, 0.14, 0.24, 0.12, 0.10],  # 本科 and above
    ]
)
SERVICES: Final = ("家政保洁", "搬家", "维修", "开锁", "管道疏通", "月嫂", "装修", "宠物")
SERVICE_P: Final = np.array([0.24, 0.16, 0.18, 0.06, 0.08, 0.07, 0.14, 0.07])
STICKY: Final = 0.75
"""Probability that an event reuses the member's preferred value for the line's property."""

# --------------------------------------------------------------------------- beauty shop
ITEMS: Final = (
    "lipstick",
    "lip_balm",
    "foundation",
    "mascara",
    "eyeshadow",
    "cleanser",
    "toner",
    "serum",
    "sunscreen",
    "anti_aging_cream",
    "makeup_remover",
    "perfume",
)
ITEM_PRICE: Final = np.array(
    [189.0, 59.9, 329.0, 149.0, 259.0, 119.0, 169.0, 489.0, 159.0, 599.0, 99.0, 699.0]
)
_ITEM_W: Final = np.array([0.16, 0.06, 0.12, 0.08, 0.08, 0.12, 0.06, 0.08, 0.10, 0.04, 0.04, 0.06])
ITEM_P: Final = _ITEM_W / _ITEM_W.sum()
_I = {name: i for i, name in enumerate(ITEMS)}
BASKET_RULES: Final = (  # (antecedent, consequent, add-probability for users under 30, 30 and over)
    (_I["lipstick"], _I["lip_balm"], 0.36, 0.36),
    (_I["foundation"], _I["makeup_remover"], 0.32, 0.32),
    (_I["cleanser"], _I["toner"], 0.50, 0.50),
    (_I["serum"], _I["anti_aging_cream"], 0.08, 0.55),
)
BASKET_SIZE_P: Final = np.array([0.55, 0.33, 0.12])  # random items before the rules add more
BUYER_SHARE: Final = 0.4

# --------------------------------------------------------------------------- time of day
# fmt: off
HOUR_W: Final = np.array(  # local hours 0-23, before the evening share is fixed
    [1.2, 0.6, 0.35, 0.25, 0.2, 0.25, 0.6, 1.6, 3.0, 4.4, 5.0, 5.0,
     4.6, 4.2, 4.6, 4.8, 4.8, 4.6, 4.4, 5.0, 5.6, 5.8, 5.0, 2.9]
)
# fmt: on
EVENING_SHARE: Final = 0.25
"""Share of events at 19:00-24:00 local time."""
NH_EVENING_SHARE: Final = 0.47
"""The same for NH users' new_house events."""

# --------------------------------------------------------------------------- volumes
TARGET_EVENTS_PER_USER: Final = 50.0
ACTIVITY_SIGMA: Final = 1.0  # lognormal activity level, mean 1
ORDERS_PER_BUYER: Final = 1.75  # 1 + Poisson(0.8 * min(activity, 5)), about 1.75 on average
EVENT_SCALE: Final = float(
    (
        TARGET_EVENTS_PER_USER
        - LINE_SHARE.sum()  # every membership has at least one event
        - LINE_SHARE[BEAUTY] * BUYER_SHARE * ORDERS_PER_BUYER  # order events
    )
    / (LINE_SHARE * LINE_INTENSITY).sum()
)
"""Events per membership are 1 + Poisson(scale * intensity * activity * noise)."""
