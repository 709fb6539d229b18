"""Names and constants of the demo county, modelled on Zhongmou County (中牟县), 2020.

Geography is approximate (town seats placed where they roughly are, all within 30 km
of the county seat at 34.72 N 113.98 E); names of villages and communities are made up
from common patterns. Sizes are for ``scale = 1.0``; the generator scales counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: the county seat (城关), WGS-84
SEAT_LON = 113.98
SEAT_LAT = 34.72

#: reference year and its totals (2020 work report of the county urban-management bureau)
YEAR = 2020
YEAR_START = dt.date(2020, 1, 1)
YEAR_END = dt.date(2020, 12, 31)
TARGET_TONNES = 201_000.0
TARGET_HOUSEHOLDS = 350_000

SPRING_FESTIVAL = dt.date(2020, 1, 25)
#: COVID-19 lockdown: markets restricted, commerce closed
LOCKDOWN = (dt.date(2020, 2, 1), dt.date(2020, 3, 15))
#: incinerator annual maintenance: residual waste goes to the landfill that week
INCINERATOR_MAINTENANCE = (dt.date(2020, 4, 13), dt.date(2020, 4, 19))
#: the new sorting centre (生活垃圾分拣中心) takes recyclables from this day on
SORTING_CENTER_OPENS = dt.date(2020, 7, 1)
#: residual trips whose points lie west of this longitude unload at the transfer station
TRANSFER_WEST_OF_LON = 113.93
#: waste per category on the statutory holidays other than the Spring Festival (元旦,
#: 清明, 劳动节, 端午, 中秋/国庆; the days come from chinese_calendar), relative to an
#: ordinary day: the offices, schools and shops whose paper and cardboard fill the
#: recyclable points close (recyclable down); people at home and visitors (residual a
#: little up). Kitchen, markets and hazardous unchanged. Small on purpose
#: (docs/operations.md): the demo plans New Year's Day 2021 with the forecast, and its
#: fleet is sized to an ordinary day (kitchen x1.03 already left points unassigned).
HOLIDAY_FACTORS: dict[str, float] = {"residual": 1.03, "recyclable": 0.85}


@dataclass(frozen=True, slots=True)
class TownSpec:
    name: str
    short: str
    lon: float
    lat: float
    #: communities at scale 1.0
    communities: int
    #: a street (街道) of the county seat: 社区 with many households
    urban: bool
    #: how far its villages spread, km
    radius_km: float
    #: its staff picked point coordinates on AMap (GCJ-02)
    gcj02: bool = False


TOWNS: tuple[TownSpec, ...] = (
    TownSpec("城关街道", "城关", 113.985, 34.722, 28, True, 1.6),
    TownSpec("青年路街道", "青年路", 113.962, 34.731, 22, True, 1.5, gcj02=True),
    TownSpec("东风路街道", "东风路", 114.004, 34.714, 22, True, 1.5),
    TownSpec("广惠街街道", "广惠街", 113.974, 34.703, 20, True, 1.5, gcj02=True),
    TownSpec("白沙镇", "白沙", 113.880, 34.752, 34, False, 4.5, gcj02=True),
    TownSpec("九龙镇", "九龙", 113.905, 34.640, 30, False, 4.5),
    TownSpec("韩寺镇", "韩寺", 114.060, 34.790, 31, False, 4.5, gcj02=True),
    TownSpec("刘集镇", "刘集", 114.045, 34.640, 29, False, 4.5),
    TownSpec("三官庙镇", "三官庙", 113.920, 34.580, 28, False, 4.5),
    TownSpec("大孟镇", "大孟", 113.885, 34.800, 31, False, 4.5),
    TownSpec("万滩镇", "万滩", 113.960, 34.860, 32, False, 5.0),
    TownSpec("张庄镇", "张庄", 113.860, 34.610, 26, False, 4.5),
    TownSpec("雁鸣湖镇", "雁鸣湖", 114.140, 34.830, 30, False, 5.0),
    TownSpec("黄店镇", "黄店", 114.100, 34.650, 32, False, 4.5),
    TownSpec("官渡镇", "官渡", 114.110, 34.745, 33, False, 4.5, gcj02=True),
    TownSpec("狼城岗镇", "狼城岗", 114.160, 34.880, 35, False, 4.5),
    TownSpec("姚家镇", "姚家", 114.030, 34.835, 30, False, 4.5),
)

# fmt: off
URBAN_COMMUNITY_STEMS: tuple[str, ...] = (
    "建设路", "青年路", "东风路", "广惠街", "商都路", "官渡路", "文化路", "牟州",
    "人民路", "民主街", "解放路", "中兴路", "万胜路", "清水河", "北苑", "南苑",
    "东城", "西城", "和谐", "幸福", "锦绣", "育才", "永安", "朝阳", "学苑", "府前",
    "杨桥", "城东", "城西", "城南", "城北", "前进", "新华", "兴盛", "华夏", "桥南",
    "桥北", "中原", "贾鲁河", "东关", "西关", "南关", "北关", "迎宾", "绿博", "潘安",
)
URBAN_COMMUNITY_SUFFIXES: tuple[str, ...] = ("社区", "东社区", "西社区", "南社区", "北社区")

SURNAMES: tuple[str, ...] = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱",
    "胡", "郭", "何", "高", "罗", "郑", "梁", "谢", "宋", "许", "韩", "冯", "邓", "曹",
    "彭", "田", "董", "袁", "潘", "于", "蒋", "杜", "程", "苏", "魏", "吕", "丁", "任",
    "姚", "卢", "姜", "崔", "贾", "付", "白", "孟", "秦", "薛", "闫", "段", "侯", "史",
)
VILLAGE_PREFIXES: tuple[str, ...] = ("", "", "", "大", "小", "前", "后", "东", "西", "南", "北", "新")
VILLAGE_SUFFIXES: tuple[str, ...] = (
    "庄", "寨", "楼", "岗", "营", "店", "集", "屯", "湾", "桥", "洼", "园", "堂", "河", "口", "坡",
)
# fmt: on


@dataclass(frozen=True, slots=True)
class DepotSpec:
    depot_id: str
    name: str
    lon: float
    lat: float


DEPOTS: tuple[DepotSpec, ...] = (
    DepotSpec("D1", "中牟县环卫车辆停车场", 113.992, 34.726),
    DepotSpec("D2", "中牟县东部环卫车场(官渡)", 114.095, 34.748),
)


@dataclass(frozen=True, slots=True)
class FacilitySpec:
    facility_id: str
    name: str
    kind: str
    accepts: tuple[str, ...]
    lon: float
    lat: float
    open: str
    close: str
    unload_min: int
    daily_capacity_kg: int
    harmless: bool
    #: weighbridge ticket number prefix
    ticket_prefix: str
    gcj02: bool = False


# fmt: off
FACILITIES: tuple[FacilitySpec, ...] = (
    FacilitySpec("F01", "中牟县生活垃圾焚烧发电厂", "incinerator", ("residual",),
                 114.052, 34.772, "00:00", "24:00", 12, 1_000_000, True, "FD"),
    FacilitySpec("F02", "汽车园垃圾站", "transfer_station", ("residual",),
                 113.902, 34.728, "05:00", "21:00", 10, 300_000, False, "QC"),
    FacilitySpec("F03", "中牟县生活垃圾分拣中心", "sorting_center", ("recyclable", "bulky"),
                 113.990, 34.688, "07:00", "19:00", 20, 150_000, True, "FJ", gcj02=True),
    FacilitySpec("F04", "中牟县餐厨垃圾处理厂", "kitchen_plant", ("kitchen", "fruit_veg"),
                 114.031, 34.698, "05:00", "22:00", 15, 250_000, True, "CC"),
    FacilitySpec("F05", "中牟县再生资源回收中心", "recycling_center", ("recyclable",),
                 113.958, 34.699, "08:00", "17:30", 20, 100_000, True, "ZS"),
    FacilitySpec("F06", "中牟县有害垃圾暂存点", "hazardous_site", ("hazardous",),
                 113.996, 34.736, "08:30", "17:00", 15, 5_000, True, "YH"),
    FacilitySpec("F07", "中牟县生活垃圾卫生填埋场", "landfill", ("residual",),
                 114.102, 34.676, "06:00", "20:00", 10, 600_000, True, "TM"),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class FleetSpec:
    type_name: str
    count: int
    #: (category, capacity_kg) in the order written to the compartments cell
    compartments: tuple[tuple[str, int], ...]
    shift_start: str
    shift_end: str
    break_min: int
    break_earliest: str
    break_latest: str
    tare_kg: int
    id_prefix: str


# fmt: off
FLEET: tuple[FleetSpec, ...] = (
    FleetSpec("压缩式垃圾车8吨", 12, (("residual", 8000),), "05:00", "17:00", 60,
              "11:00", "13:00", 9_500, "YS"),
    FleetSpec("压缩式垃圾车10吨", 7, (("residual", 10000),), "05:00", "17:00", 60,
              "11:00", "13:00", 12_000, "YS"),
    FleetSpec("餐厨垃圾车5吨", 11, (("kitchen", 5000),), "05:30", "17:30", 45,
              "11:00", "13:00", 7_000, "CC"),
    FleetSpec("可回收物收集车", 7, (("recyclable", 2500),), "07:00", "17:00", 60,
              "11:30", "13:30", 3_500, "KH"),
    FleetSpec("分类收集车(双仓)", 2, (("recyclable", 2500), ("hazardous", 300)), "07:00",
              "17:00", 60, "11:30", "13:30", 4_200, "SC"),
    FleetSpec("有害垃圾收集车", 1, (("hazardous", 500),), "08:00", "17:00", 60,
              "11:30", "13:30", 3_000, "YH"),
    FleetSpec("果蔬垃圾车8吨", 3, (("fruit_veg", 8000),), "04:30", "14:30", 30,
              "10:00", "12:00", 9_000, "GS"),
)
# fmt: on

#: share of a community's daily waste per category once it separates at source
SORTED_SHARES: dict[str, float] = {
    "residual": 0.54,
    "kitchen": 0.30,
    "recyclable": 0.15,
    "hazardous": 0.01,
}
#: fruit/veg market waste relative to household waste (before seasonality)
MARKET_SHARE = 0.07

# fmt: off
MARKET_STEMS_URBAN: tuple[str, ...] = (
    "建设路农贸市场", "青年路菜市场", "广惠街农贸市场", "东风路农贸市场", "中牟县城北菜市场",
    "中牟县农副产品批发市场", "牟州农贸市场", "城南便民市场",
)
# fmt: on
#: the large wholesale market at the county's west edge (万邦), several points
WHOLESALE_MARKET = ("万邦农产品物流城", 113.870, 34.735, 4)
