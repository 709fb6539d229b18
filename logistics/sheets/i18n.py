"""The sheets' small message catalogue (zh, en) and number formatting (Babel).

The sheets have a few dozen fixed words; a dictionary per language keeps them in one
place, readable next to each other, without a gettext build step. Numbers are
formatted by Babel with the language's locale (grouping separators).
"""

from __future__ import annotations

from babel.numbers import format_decimal

from logistics.domain import CATEGORY_BY_KEY, FACILITY_KINDS

LANGS = ("zh", "en")
_LOCALES = {"zh": "zh_CN", "en": "en_GB"}

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "title": "生活垃圾收运路线单",
        "route": "路线",
        "date": "日期",
        "vehicle": "车辆",
        "plate": "车牌",
        "depot": "车场",
        "shift": "班次",
        "break": "休息",
        "break_window": "休息时段",
        "streams": "收运类别",
        "plan": "计划",
        "seq": "序号",
        "point": "点位 / 社区",
        "category": "类别",
        "bins": "桶数",
        "bins_unit": "桶",
        "expected_kg": "预计公斤",
        "time_window": "时间窗",
        "arrival": "计划到达",
        "departure": "计划离开",
        "load_kg": "累计载重",
        "done": "已收",
        "actual_kg": "实收公斤",
        "start_at": "出发",
        "end_at": "返回",
        "unload": "卸料",
        "opening_hours": "开放",
        "ticket_no": "磅单号",
        "net_kg": "净重",
        "minutes": "分钟",
        "comma": "，",
        "colon": "：",
        "all_day": "全天",
        "none": "无",
        "totals": "合计",
        "stops": "收运点",
        "distance": "里程",
        "km": "公里",
        "kg": "公斤",
        "trips": "趟数",
        "duration": "用时",
        "hours": "小时",
        "driver_sign": "司机签字",
        "dispatcher_sign": "调度签字",
        "scan_phone": "扫码打开手机版路线",
        "page_of": "第 {n} 页 / 共 {m} 页",
        "legend_depot": "车场",
        "legend_unload": "卸料设施",
        "map_note": "示意图（WGS-84，未按道路绘制）",
        "navigate": "导航",
        "amap": "高德",
        "baidu": "百度",
        "coords_note": "导航坐标：高德 GCJ-02，百度 BD-09；文件内坐标 WGS-84。",
        "plan_summary": "收运计划汇总",
        "routes": "路线",
        "points_due": "应收点位",
        "points_served": "已安排",
        "vehicles_used": "出车数",
        "kg_planned": "计划公斤",
        "unassigned": "未安排的收运",
        "reason": "原因",
        "no_unassigned": "全部收运均已安排。",
        "summary_sheet": "汇总",
        "unassigned_sheet": "未安排",
        "kind": "类型",
        "id": "编号",
        "name": "名称",
        "community": "社区",
        "town": "乡镇",
        "lon": "经度",
        "lat": "纬度",
        "kind_depot": "车场",
        "kind_collect": "收运",
        "kind_unload": "卸料",
        "kind_break": "休息",
        "facility": "设施",
        "generated": "生成",
        "phone_title": "手机路线",
    },
    "en": {
        "title": "Waste collection route sheet",
        "route": "Route",
        "date": "Date",
        "vehicle": "Truck",
        "plate": "Plate",
        "depot": "Depot",
        "shift": "Shift",
        "break": "Break",
        "break_window": "Break window",
        "streams": "Streams",
        "plan": "Plan",
        "seq": "No.",
        "point": "Point / community",
        "category": "Category",
        "bins": "Bins",
        "bins_unit": "bins",
        "expected_kg": "Expected kg",
        "time_window": "Time window",
        "arrival": "Planned arrival",
        "departure": "Planned departure",
        "load_kg": "Load kg",
        "done": "Done",
        "actual_kg": "Actual kg",
        "start_at": "Start",
        "end_at": "Return",
        "unload": "Unload",
        "opening_hours": "open",
        "ticket_no": "Ticket no.",
        "net_kg": "Net kg",
        "minutes": "min",
        "comma": ", ",
        "colon": ": ",
        "all_day": "any time",
        "none": "none",
        "totals": "Totals",
        "stops": "Stops",
        "distance": "Distance",
        "km": "km",
        "kg": "kg",
        "trips": "Trips",
        "duration": "Duration",
        "hours": "h",
        "driver_sign": "Driver's signature",
        "dispatcher_sign": "Dispatcher's signature",
        "scan_phone": "Scan for the phone page",
        "page_of": "Page {n} of {m}",
        "legend_depot": "Depot",
        "legend_unload": "Unloading facility",
        "map_note": "Sketch (WGS-84, straight lines, not roads)",
        "navigate": "Navigate",
        "amap": "AMap",
        "baidu": "Baidu",
        "coords_note": "Navigation uses GCJ-02 (AMap) and BD-09 (Baidu); files store WGS-84.",
        "plan_summary": "Collection plan summary",
        "routes": "Routes",
        "points_due": "Points due",
        "points_served": "Points served",
        "vehicles_used": "Trucks used",
        "kg_planned": "kg planned",
        "unassigned": "Unassigned collections",
        "reason": "Reason",
        "no_unassigned": "Every collection is assigned.",
        "summary_sheet": "Summary",
        "unassigned_sheet": "Unassigned",
        "kind": "Kind",
        "id": "Id",
        "name": "Name",
        "community": "Community",
        "town": "Town",
        "lon": "Lon",
        "lat": "Lat",
        "kind_depot": "depot",
        "kind_collect": "collect",
        "kind_unload": "unload",
        "kind_break": "break",
        "facility": "Facility",
        "generated": "Generated",
        "phone_title": "Route on the phone",
    },
}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        from logistics.domain import BadInput

        raise BadInput(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    return lang


class Messages:
    """Messages of one language: ``m("title")``, ``m.num(1234.5)``, ``m.category("kitchen")``."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)
        self._table = MESSAGES[lang]
        self.locale = _LOCALES[lang]

    def __call__(self, key: str, **kwargs: object) -> str:
        text = self._table.get(key, key)
        return text.format(**kwargs) if kwargs else text

    def num(self, value: float | None, digits: int = 0) -> str:
        """A number with the locale's grouping; '' for None."""
        if value is None:
            return ""
        pattern = "#,##0" if digits == 0 else "#,##0." + "0" * digits
        return format_decimal(value, format=pattern, locale=self.locale)

    def category(self, key: str) -> str:
        cat = CATEGORY_BY_KEY.get(key)
        if cat is None:
            return key
        return cat.name_zh if self.lang == "zh" else cat.name_en

    def facility_kind(self, kind: str) -> str:
        if self.lang == "zh":
            return FACILITY_KINDS.get(kind, kind)
        return kind.replace("_", " ")

    def stop_kind(self, kind: str) -> str:
        return self(f"kind_{kind}")
