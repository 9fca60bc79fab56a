"""Sentence pools of the demo corpus, by topic, with the indicators each topic plants.

Filler sentences carry none of the indicator terms; a topic's lead sentence (always the
first paragraph, which feeds use as summary) carries all of them, so a page that fails
to load still counts through its feed summary.
"""

from __future__ import annotations

import datetime as dt
import random

A29, A68, A67 = "a29", "a68", "a67"

PLANTS: dict[str, frozenset[str]] = {
    "a29_festival": frozenset({A29}),
    "a29_market": frozenset({A29}),
    "a68_culture": frozenset({A68}),
    "a29_a68": frozenset({A29, A68}),
    "weihai_road": frozenset({A29}),  # Shanghai's 威海路: literal match, not about the city
    "weihai_only": frozenset(),
    "seafood_other": frozenset(),
    "liugong_only": frozenset(),
    "ocean_other": frozenset(),
    "general": frozenset(),
    "a67_tourism": frozenset({A67}),
    "a67_city": frozenset({A67}),
    "a67_hanja": frozenset({A67}),
    # Not in MIX: a two-day burst of bad news about the city, planted once (corpus.py) so the
    # alert rules have one episode to find in an otherwise quiet world.
    "a67_incident": frozenset({A67}),
    "wihae_noise": frozenset(),  # 위해 = "for the sake of" / "harm": not the city
    "ko_general": frozenset(),
}

# Literal hits that a reader would not count: the relevance check must drop them.
NOT_RELEVANT: dict[str, frozenset[str]] = {"weihai_road": frozenset({A29})}

MIX: dict[str, list[tuple[str, float]]] = {
    "haibin": [
        ("a29_festival", 1.4),
        ("a29_market", 1.0),
        ("a68_culture", 1.0),
        ("a29_a68", 0.3),
        ("weihai_only", 1.5),
        ("seafood_other", 1.0),
        ("general", 1.0),
    ],
    "jiaodong": [
        ("a29_market", 0.8),
        ("weihai_road", 0.5),
        ("liugong_only", 0.8),
        ("ocean_other", 0.6),
        ("a68_culture", 0.5),
        ("general", 1.0),
    ],
    "hanbando": [
        ("a67_tourism", 1.5),
        ("a67_city", 0.8),
        ("wihae_noise", 2.0),
        ("ko_general", 1.0),
    ],
    "seohae": [("a67_hanja", 0.5), ("a67_tourism", 0.8), ("wihae_noise", 1.0), ("ko_general", 0.8)],
}
RISING = {"a29_festival", "a29_market"}
REPRINTED = {"a29_festival", "a29_market", "a68_culture", "a67_tourism", "a67_city"}

TITLES: dict[str, list[str]] = {
    "a29_festival": ["威海国际海鲜美食节开幕", "海鲜之都威海迎来开海季", "威海海鲜节吸引八方游客"],
    "a29_market": ["威海海鲜市场购销两旺", "威海海鲜走俏国内外市场", "威海渔港海鲜交易活跃"],
    "a68_culture": ["刘公岛举办海洋文化研学活动", "刘公岛海洋文化节启幕", "走进刘公岛感受海洋文化"],
    "a29_a68": ["威海：海鲜与海洋文化双轮驱动旅游", "从刘公岛到渔港：威海的海洋名片"],
    "weihai_road": ["上海威海路美食街新店开业", "城市漫步：威海路上的老字号"],
    "weihai_only": ["威海召开经济运行分析会", "威海至大连航线客流回升", "威海新建一批口袋公园"],
    "seafood_other": ["青岛啤酒节大排档生意火爆", "大连海鲜市场价格平稳", "舟山渔场迎来丰收"],
    "liugong_only": ["刘公岛景区假期接待游客创新高", "刘公岛轮渡增开班次"],
    "ocean_other": ["舟山举办中国海洋文化节", "厦门海洋文化周开幕"],
    "general": ["多地迎来降温天气", "国家统计局发布最新数据", "全国铁路暑运圆满收官"],
    "a67_tourism": [
        "웨이하이, 한국인 관광객 다시 늘어",
        "인천-웨이하이 카페리 운항 재개",
        "웨이하이 해변 축제에 한국 관광객 몰려",
    ],
    "a67_city": ["위해시, 한국 기업 투자 설명회 개최", "위해시와 한국 도시 간 교류 확대"],
    "a67_hanja": ["중국 산둥성 威海 한국 교민 행사", "威海 한국상회 신년 모임"],
    "a67_incident": [
        "웨이하이 앞바다서 어선 침몰…선원 실종",
        "웨이하이 어선 사고 실종자 수색 난항",
        "웨이하이 어선 침몰, 당국 부실 대응 비판 거세",
        "웨이하이 관광 안전 불안 확산…예약 취소 잇따라",
    ],
    "wihae_noise": [
        "물가 안정을 위해 정부 대책 발표",
        "식품 위해 요소 집중 점검",
        "청년 일자리를 위해 예산 증액",
    ],
    "ko_general": ["전국 곳곳 첫눈 소식", "수출 증가세 이어져", "주말 나들이 인파 북적"],
}

LEADS: dict[str, list[str]] = {
    "a29_festival": [
        "{md}，第{n}届威海国际海鲜美食节在威海公园开幕，来自各地的游客品尝当季海鲜。",
        "素有“海鲜之都”之称的威海{md}迎来开海季，渔船满载海鲜归港。",
    ],
    "a29_market": [
        "{md}，威海各大市场扇贝、海参等海鲜销量同比增长{p}%。",
        "威海海鲜产品{md}起发往全国{n}个城市，冷链运输保障新鲜。",
    ],
    "a68_culture": [
        "{md}，刘公岛景区举办第{n}期海洋文化研学活动，{p}名学生参加。",
        "甲午战争博物院所在的刘公岛，{md}起推出海洋文化主题展览，展出文物{n}件。",
    ],
    "a29_a68": [
        "{md}，威海推出“刘公岛+渔港”线路，让游客在品尝海鲜的同时感受海洋文化，首批{n}个团队成行。",
    ],
    "weihai_road": [
        "{md}，上海威海路上新开了一家海鲜餐厅，开业首周接待食客{p}桌。",
        "位于上海静安的威海路是一条老街，街角的海鲜小馆已经营业{n}年。",
    ],
    "weihai_only": [
        "{md}，威海市召开经济运行分析会，全市规模以上工业增加值增长{p}%。",
        "{md}起，威海至大连航线客流明显回升，日均旅客{n}百人次。",
    ],
    "seafood_other": [
        "{md}，青岛啤酒节期间海鲜大排档生意火爆，客流增长{p}%。",
        "大连海鲜市场{md}价格平稳，{n}个品种价格与上周持平。",
    ],
    "liugong_only": [
        "{md}，刘公岛景区接待游客{n}万人次，同比增长{p}%。",
        "为满足游客需求，刘公岛轮渡{md}起每日增开{n}个班次。",
    ],
    "ocean_other": [
        "{md}，第{n}届中国海洋文化节在舟山开幕，展示渔民画等非遗项目。",
        "厦门海洋文化周{md}开幕，{p}项活动陆续举行。",
    ],
    "general": [
        "{md}，受冷空气影响，北方多地气温下降{n}摄氏度。",
        "国家统计局{md}发布数据，社会消费品零售总额同比增长{p}%。",
    ],
    "a67_tourism": [
        "{md} 중국 산둥성 웨이하이를 찾은 한국인 관광객이 {n}만 명을 넘어섰다.",
        "인천과 웨이하이를 잇는 카페리 노선이 {md}부터 주 {n}회 운항한다.",
    ],
    "a67_city": [
        "중국 위해시 정부는 {md} 한국 기업 {n}곳을 초청해 투자 설명회를 열었다.",
        "위해시는 {md} 한국의 자매도시와 교류 협약을 {n}년 연장했다.",
    ],
    "a67_hanja": [
        "{md} 중국 산둥성 威海에서 한국 교민 {n}명이 참석한 행사가 열렸다.",
    ],
    # Checked with the shipped ko-sentiment model (`meiyu nlp sentiment --lang ko`): every
    # headline reads negative with p > 0.97, so headline + lead averaged is negative.
    "a67_incident": [
        "{md} 웨이하이 앞바다 어선 침몰 사고로 선원 {n}명이 숨지거나 실종돼 충격을 주고 있다.",
        "{md} 웨이하이 항만 당국의 안전 관리 부실이 참사를 키웠다는 지적이 나온다.",
        "웨이하이 해경은 사고 원인을 제대로 밝히지 못해 유족들의 분노를 샀다.",
        "사고 소식이 알려지자 웨이하이 관광 예약을 취소하는 한국인이 잇따르고 있다.",
    ],
    "wihae_noise": [
        "정부는 {md} 물가 안정을 위해 {n}개 품목의 관세를 낮추기로 했다.",
        "식품의약품안전처는 {md} 식품 위해 요소 {n}건을 적발했다고 밝혔다.",
    ],
    "ko_general": [
        "{md} 전국 {n}개 지역에 첫눈이 내렸다.",
        "산업통상자원부는 {md} 수출이 {p}% 증가했다고 밝혔다.",
    ],
}

FILLER = {
    "zh": [
        "相关负责人表示，将持续优化服务，提升群众满意度。",
        "据介绍，活动期间还将举办多场文艺演出和展销会。",
        "业内人士认为，这一趋势有望在下半年延续。",
        "记者在现场看到，不少市民带着孩子前来参观。",
        "当地交通部门提醒，出行高峰期间请合理安排时间。",
        "据统计，相关项目今年累计投资超过{n}亿元。",
        "专家建议，消费者选购时注意查看产品标识。",
        "主办方介绍，今年的参与单位比去年增加了{p}家。",
        "不少外地游客专程赶来，酒店入住率明显上升。",
        "有关部门加强了现场秩序维护和安全保障工作。",
        "下一步，当地将继续完善基础设施建设。",
        "多位受访者表示，希望此类活动能够常态化举办。",
        "据了解，相关线路已开通线上预约服务。",
        "与会代表围绕产业升级、品牌建设等议题进行了交流。",
        "气象部门预计，未来一周以晴好天气为主。",
        "该项目总投资约{n}亿元，计划明年底前建成。",
        "工作人员提醒，节假日期间客流较大，请错峰出行。",
        "此次活动共吸引{n}家企业参展，现场签约项目{p}个。",
        "市民王女士说，这几年身边的变化越来越大。",
    ],
    "ko": [
        "관계자는 앞으로도 서비스 개선에 힘쓰겠다고 말했다.",
        "행사 기간 다양한 공연과 체험 프로그램이 마련된다.",
        "업계에서는 이런 흐름이 하반기에도 이어질 것으로 보고 있다.",
        "현장에는 가족 단위 방문객이 많았다.",
        "당국은 혼잡 시간대를 피해 이동해 달라고 당부했다.",
        "올해 관련 사업에 투입된 예산은 {n}억 원을 넘는다.",
        "주최 측은 올해 참가 기관이 지난해보다 {p}곳 늘었다고 설명했다.",
        "지역 숙박업소 예약률도 눈에 띄게 올랐다.",
        "당국은 현장 질서 유지와 안전 관리에 만전을 기하고 있다.",
        "앞으로 기반 시설 확충을 계속 추진할 계획이다.",
        "방문객들은 이런 행사가 정례화되기를 바란다고 입을 모았다.",
        "관련 노선은 온라인 예약도 가능하다.",
        "참석자들은 산업 고도화와 브랜드 구축 방안을 논의했다.",
        "기상청은 다음 주까지 맑은 날씨가 이어질 것으로 내다봤다.",
        "총사업비는 약 {n}억 원으로 내년 말 완공 예정이다.",
        "이번 행사에는 기업 {n}곳이 참가해 {p}건의 계약을 맺었다.",
        "한 시민은 최근 몇 년 사이 주변이 많이 달라졌다고 말했다.",
    ],
}
# Filler of the incident topic (no place names: only the lead speaks of the city).
INCIDENT_FILLER = [
    "해경은 사고 해역에 경비함정 {n}척을 투입해 수색을 이어가고 있다.",
    "현지 교민들은 사고 소식에 불안감을 호소했다.",
    "외교부는 현지 공관을 통해 피해 상황을 파악하고 있다고 밝혔다.",
    "사고 해역에는 한때 높은 파도가 일었던 것으로 알려졌다.",
    "여행업계는 당분간 관련 상품 판매를 중단하기로 했다.",
    "실종자 가족들은 현지로 출발할 예정이다.",
]
TOPIC_FILLER = {"a67_incident": INCIDENT_FILLER}
BYLINE = {"zh": "（记者 {name}）", "ko": "{name} 기자"}
SOURCE_LINE = {"zh": "本文转载自{}，原标题有改动。", "ko": "이 기사는 {}에서 전재했습니다."}
STORY_NO = {"zh": " 稿号{}", "ko": " 기사번호 {}"}  # keeps distinct stories distinct
NAMES = {
    "zh": ["张明", "李华", "王静", "刘洋", "陈晨", "赵磊"],
    "ko": ["김민수", "이지은", "박서준", "최유리", "정하늘"],
}
NAV = {
    "zh": '<a href="/">首页</a> | <a href="/local">本地</a> | <a href="/china">国内</a>',
    "ko": '<a href="/">홈</a> | <a href="/local">지역</a> | <a href="/world">국제</a>',
}
RELATED = {"zh": "更多新闻", "ko": "더 많은 기사"}
FOOTER = {
    "zh": "演示语料 · 版权所有 · 未经授权不得转载",
    "ko": "데모 코퍼스 · 무단 전재 및 재배포 금지",
}


def compose(
    rng: random.Random, lang: str, topic: str, when: dt.datetime, serial: int
) -> tuple[str, list[str]]:
    md = f"{when.month}月{when.day}日" if lang == "zh" else f"{when.month}월 {when.day}일"

    def fill(template: str) -> str:
        return template.format(md=md, n=rng.randint(2, 60), p=rng.randint(3, 45))

    lead = fill(rng.choice(LEADS[topic]))
    extras = [fill(s) for s in rng.sample(TOPIC_FILLER.get(topic, FILLER[lang]), k=4)]
    byline = BYLINE[lang].format(name=rng.choice(NAMES[lang]))
    paragraphs = [
        lead,
        extras[0] + extras[1],
        extras[2] + extras[3],
        byline + STORY_NO[lang].format(serial),
    ]
    return rng.choice(TITLES[topic]), paragraphs
