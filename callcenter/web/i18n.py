"""Labels of the server-rendered pages in English and Simplified Chinese.

:func:`pick_language` chooses from ``?lang=`` or ``Accept-Language``; :func:`labels` returns
the label table of a language (English for anything else). Every table has the same keys
(a test checks it), so a template never meets a missing label.
"""

from __future__ import annotations

from typing import Mapping

LANGUAGES = ("en", "zh")

_EN = {
    "desktop_title": "Agent desktop",
    "state": "State",
    "available": "Available",
    "not_ready": "Not ready",
    "logged_out": "Logged out",
    "busy": "Busy",
    "wrap_up": "Wrap-up",
    "reason": "Reason",
    "go_available": "Go available",
    "go_not_ready": "Pause",
    "log_out": "Log out",
    "time_in_state": "Time in state",
    "offers": "Offers",
    "no_offers": "No offer right now.",
    "accept": "Accept",
    "reject": "Reject",
    "expires_in": "Expires in",
    "seconds": "s",
    "work": "Current work",
    "no_work": "Nothing in hand.",
    "customer": "Customer",
    "tier": "Tier",
    "contacts": "Contact points",
    "attributes": "Attributes",
    "crm": "Open in CRM",
    "timeline": "Timeline",
    "interaction": "This interaction",
    "channel": "Channel",
    "subject": "Subject",
    "caller": "Caller",
    "ivr": "IVR digits",
    "form_fields": "Form fields",
    "message": "Message",
    "notes": "Notes",
    "add_note": "Add note",
    "complete": "Done with customer",
    "disposition": "Disposition",
    "finish_wrap_up": "Finish wrap-up",
    "transfer": "Transfer to queue",
    "dial": "Dial",
    "number": "Number",
    "reply": "Reply",
    "send_reply": "Send reply",
    "connection_lost": "Connection lost; reconnecting…",
    "connected": "Live",
    "error": "Error",
    "provisional": "unconfirmed",
    "dashboard_title": "Supervisor dashboard",
    "queues": "Queues",
    "waiting": "Waiting",
    "longest_wait": "Longest wait",
    "service_level": "Service level",
    "abandoned": "Abandoned",
    "abandon_rate": "Abandon rate",
    "handled": "Handled",
    "offered": "Offered",
    "asa": "Avg. speed of answer",
    "aht": "Avg. handle time",
    "agents": "Agents",
    "score": "Score",
    "move": "Move",
    "raise_priority": "Raise priority",
    "queue": "Queue",
    "set_state": "Set state",
    "occupancy": "Occupancy",
    "nav_desktop": "Desktop",
    "nav_dashboard": "Dashboard",
    "nav_reports": "Reports",
    "nav_staffing": "Staffing",
    "pages": "Pages",
    "sign_out": "Sign out",
    "signed_in_as": "Signed in as",
    "filter_agents": "Filter agents",
    "change_state": "Change state…",
    "target": "target",
    "priority": "Priority",
    "nobody_waiting": "Nobody is waiting.",
    "configuration": "Configuration",
    "reload_config": "Check and reload config/",
    "reload_help": "Checks every file of the configuration directory; applies it only when it has no error, without dropping waiting work.",
    "reload_applied": "Applied.",
    "reload_refused": "Not applied: the running configuration is kept.",
    "no_changes": "No change.",
    "needs_restart": "Takes effect after a restart:",
}

_ZH = {
    "desktop_title": "坐席工作台",
    "state": "状态",
    "available": "就绪",
    "not_ready": "未就绪",
    "logged_out": "已签出",
    "busy": "忙碌",
    "wrap_up": "话后处理",
    "reason": "原因",
    "go_available": "置为就绪",
    "go_not_ready": "暂停",
    "log_out": "签出",
    "time_in_state": "当前状态时长",
    "offers": "待接任务",
    "no_offers": "暂无分配的任务。",
    "accept": "接受",
    "reject": "拒绝",
    "expires_in": "剩余",
    "seconds": "秒",
    "work": "当前工作",
    "no_work": "没有进行中的工作。",
    "customer": "客户",
    "tier": "等级",
    "contacts": "联系方式",
    "attributes": "属性",
    "crm": "在 CRM 中打开",
    "timeline": "历史记录",
    "interaction": "本次联络",
    "channel": "渠道",
    "subject": "主题",
    "caller": "主叫",
    "ivr": "IVR 按键",
    "form_fields": "表单内容",
    "message": "邮件内容",
    "notes": "备注",
    "add_note": "添加备注",
    "complete": "结束服务",
    "disposition": "处理结果",
    "finish_wrap_up": "完成话后处理",
    "transfer": "转接到队列",
    "dial": "拨号",
    "number": "号码",
    "reply": "回复",
    "send_reply": "发送回复",
    "connection_lost": "连接中断，正在重连……",
    "connected": "实时",
    "error": "错误",
    "provisional": "未确认",
    "dashboard_title": "班长监控台",
    "queues": "队列",
    "waiting": "排队中",
    "longest_wait": "最长等待",
    "service_level": "服务水平",
    "abandoned": "放弃",
    "abandon_rate": "放弃率",
    "handled": "已接通",
    "offered": "已分配",
    "asa": "平均应答速度",
    "aht": "平均处理时长",
    "agents": "坐席",
    "score": "分数",
    "move": "转移",
    "raise_priority": "提高优先级",
    "queue": "队列",
    "set_state": "设置状态",
    "occupancy": "占用率",
    "nav_desktop": "工作台",
    "nav_dashboard": "监控台",
    "nav_reports": "报表",
    "nav_staffing": "人力测算",
    "pages": "页面",
    "sign_out": "退出登录",
    "signed_in_as": "当前用户",
    "filter_agents": "筛选坐席",
    "change_state": "更改状态…",
    "target": "目标",
    "priority": "优先级",
    "nobody_waiting": "没有排队的联络。",
    "configuration": "配置",
    "reload_config": "检查并重新加载 config/",
    "reload_help": "检查配置目录中的每个文件；只有没有错误时才会应用，排队中的联络不会丢失。",
    "reload_applied": "已应用。",
    "reload_refused": "未应用：继续使用当前配置。",
    "no_changes": "没有变化。",
    "needs_restart": "重启后生效：",
}

_TABLES: Mapping[str, Mapping[str, str]] = {"en": _EN, "zh": _ZH}


def labels(language: str) -> Mapping[str, str]:
    """The label table for ``language`` (``zh``, ``zh-CN`` -> Chinese; anything else English)."""
    return _TABLES.get(language.split("-")[0].lower(), _EN)


def pick_language(query_lang: str | None, accept_language: str | None) -> str:
    """``en`` or ``zh``: the ``lang`` query parameter if known, else the best Accept-Language entry."""
    if query_lang and query_lang.split("-")[0].lower() in _TABLES:
        return query_lang.split("-")[0].lower()
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.split("-")[0].lower()
        if primary in _TABLES and q > best_q:
            best, best_q = primary, q
    return best
