//! The full demo range of a Hainan safety-gear and hardware wholesaler: 300+ SKUs with item
//! numbers, models, specs, EAN-13 barcodes, packs, level and break prices and stock, and members
//! at every step of the lifecycle in every region. Deterministic: the same data every time.

use crate::accounts::MemberState;
use crate::accounts::passwords::Hasher;
use crate::accounts::users::NewUser;
use crate::accounts::{Password, Role};
use crate::catalog::storage::{NewProduct, NewSku};
use crate::catalog::{LevelPrice, PriceBreak, Unit};
use crate::members::addresses::AddressFields;
use crate::members::records::ProfileWrite;
use crate::store::Store;

/// (item prefix, name, category path, brand, item unit, inner qty, outer qty, base price fen,
///  models, specs)
type Family = (
    &'static str,
    &'static str,
    [&'static str; 3],
    &'static str,
    &'static str,
    i64,
    i64,
    i64,
    &'static [&'static str],
    &'static [&'static str],
);

const FAMILIES: &[Family] = &[
    (
        "AQM",
        "安全帽 玻璃钢 高强度",
        ["劳保用品", "头部防护", "安全帽"],
        "安达",
        "个",
        10,
        50,
        4500,
        &["盔式", "欧式"],
        &["红色", "黄色", "白色", "蓝色"],
    ),
    (
        "AQM",
        "安全帽 ABS 电工绝缘",
        ["劳保用品", "头部防护", "安全帽"],
        "代尔塔",
        "个",
        10,
        50,
        3900,
        &["三筋", "V型"],
        &["红色", "黄色", "白色"],
    ),
    (
        "FZM",
        "防尘口罩 KN95 折叠式",
        ["劳保用品", "呼吸防护", "防尘口罩"],
        "3M",
        "个",
        50,
        1000,
        180,
        &["带阀", "无阀"],
        &["白色", "灰色"],
    ),
    (
        "FDM",
        "防毒面具 半面罩 双滤盒",
        ["劳保用品", "呼吸防护", "防毒面具"],
        "3M",
        "套",
        1,
        20,
        6800,
        &["6200", "7502"],
        &["小号", "中号", "大号"],
    ),
    (
        "ST",
        "劳保手套 纱线 加厚耐磨",
        ["劳保用品", "手部防护", "劳保手套"],
        "安达",
        "扎",
        12,
        240,
        1800,
        &["600克", "800克"],
        &["白色", "灰色"],
    ),
    (
        "ST",
        "丁腈手套 耐油耐酸碱",
        ["劳保用品", "手部防护", "劳保手套"],
        "代尔塔",
        "扎",
        12,
        120,
        4800,
        &["丁腈全浸", "丁腈半浸"],
        &["M", "L", "XL"],
    ),
    (
        "JYST",
        "绝缘手套 电工 12KV",
        ["劳保用品", "手部防护", "绝缘手套"],
        "双安",
        "套",
        1,
        20,
        9800,
        &["12KV", "25KV"],
        &["均码"],
    ),
    (
        "AQX",
        "劳保鞋 钢包头 防砸防刺穿",
        ["劳保用品", "足部防护", "安全鞋"],
        "代尔塔",
        "套",
        1,
        10,
        12800,
        &["低帮", "高帮"],
        &["39", "40", "41", "42", "43", "44"],
    ),
    (
        "YX",
        "雨靴 PVC 高筒 防滑",
        ["劳保用品", "足部防护", "雨靴"],
        "回力",
        "套",
        1,
        10,
        4200,
        &["高筒", "中筒"],
        &["40", "41", "42", "43"],
    ),
    (
        "FGB",
        "反光背心 荧光 施工",
        ["劳保用品", "身体防护", "反光衣"],
        "安达",
        "个",
        10,
        100,
        950,
        &["网布", "针织"],
        &["荧光黄", "荧光橙"],
    ),
    (
        "AQD",
        "安全带 全身式 高空作业",
        ["劳保用品", "坠落防护", "安全带"],
        "代尔塔",
        "套",
        1,
        10,
        15800,
        &["单钩", "双钩"],
        &["均码"],
    ),
    (
        "HJM",
        "电焊面罩 自动变光",
        ["劳保用品", "面部防护", "焊接防护"],
        "安达",
        "个",
        1,
        20,
        8800,
        &["头戴式", "手持式"],
        &["黑色"],
    ),
    (
        "FHYJ",
        "防护眼镜 防冲击 防雾",
        ["劳保用品", "面部防护", "护目镜"],
        "3M",
        "个",
        12,
        240,
        1250,
        &["透明", "茶色"],
        &["均码"],
    ),
    (
        "EZ",
        "隔音耳罩 降噪",
        ["劳保用品", "听力防护", "耳罩"],
        "3M",
        "个",
        1,
        40,
        5600,
        &["头戴", "挂安全帽"],
        &["均码"],
    ),
    (
        "FS",
        "防水涂料 JS聚合物水泥基 20kg",
        ["建筑材料", "防水材料", "防水涂料"],
        "东方雨虹",
        "桶",
        1,
        4,
        25800,
        &["JS-I", "JS-II"],
        &["灰色", "白色"],
    ),
    (
        "FS",
        "防水涂料 聚氨酯 单组份",
        ["建筑材料", "防水材料", "防水涂料"],
        "东方雨虹",
        "桶",
        1,
        4,
        29800,
        &["PU-951"],
        &["黑色 20kg", "黑色 10kg"],
    ),
    (
        "FSJ",
        "防水卷材 SBS 改性沥青",
        ["建筑材料", "防水材料", "防水卷材"],
        "东方雨虹",
        "卷",
        1,
        10,
        16800,
        &["3mm", "4mm"],
        &["聚酯胎", "玻纤胎"],
    ),
    (
        "DJS",
        "堵漏王 速凝型 5kg",
        ["建筑材料", "防水材料", "堵漏材料"],
        "东方雨虹",
        "桶",
        4,
        24,
        3600,
        &["速凝", "缓凝"],
        &["灰色"],
    ),
    (
        "BS",
        "活动扳手 铬钒钢 开口",
        ["五金工具", "手动工具", "扳手"],
        "世达",
        "把",
        5,
        50,
        2450,
        &["6寸", "8寸", "10寸", "12寸", "15寸"],
        &["镀铬"],
    ),
    (
        "TB",
        "梅花开口两用扳手",
        ["五金工具", "手动工具", "扳手"],
        "世达",
        "把",
        10,
        100,
        860,
        &["8mm", "10mm", "12mm", "14mm", "17mm", "19mm"],
        &["镜面"],
    ),
    (
        "LSD",
        "螺丝刀 十字一字 磁性",
        ["五金工具", "手动工具", "螺丝刀"],
        "世达",
        "把",
        12,
        120,
        650,
        &["十字", "一字"],
        &["3寸", "4寸", "6寸"],
    ),
    (
        "QZ",
        "钢丝钳 老虎钳 8寸",
        ["五金工具", "手动工具", "钳子"],
        "世达",
        "把",
        6,
        60,
        2800,
        &["钢丝钳", "尖嘴钳", "斜口钳"],
        &["6寸", "8寸"],
    ),
    (
        "CT",
        "卷尺 钢卷尺 自锁",
        ["五金工具", "测量工具", "卷尺"],
        "长城精工",
        "个",
        12,
        120,
        1200,
        &["3米", "5米", "7.5米", "10米"],
        &["宽19mm"],
    ),
    (
        "SPY",
        "水平仪 铝合金 强磁",
        ["五金工具", "测量工具", "水平仪"],
        "长城精工",
        "个",
        6,
        60,
        2600,
        &["30cm", "60cm"],
        &["带磁", "无磁"],
    ),
    (
        "DZ",
        "冲击钻 电锤 两用",
        ["五金工具", "电动工具", "电钻"],
        "东成",
        "台",
        1,
        5,
        29800,
        &["20mm", "26mm"],
        &["标配", "豪华套装"],
    ),
    (
        "JGJ",
        "角磨机 手提切割机",
        ["五金工具", "电动工具", "角磨机"],
        "东成",
        "台",
        1,
        10,
        16800,
        &["100型", "125型"],
        &["850W", "1200W"],
    ),
    (
        "DC",
        "切割片 树脂 金属用",
        ["五金工具", "电动工具", "配件"],
        "东成",
        "个",
        50,
        500,
        180,
        &["105mm", "125mm"],
        &["1.2mm", "2.5mm"],
    ),
    (
        "LS",
        "膨胀螺丝 镀锌 全套",
        ["五金工具", "紧固件", "螺丝"],
        "安达",
        "个",
        100,
        2000,
        35,
        &["M6", "M8", "M10", "M12"],
        &["60mm", "80mm", "100mm"],
    ),
    (
        "ZJ",
        "扎带 尼龙 自锁",
        ["五金工具", "紧固件", "扎带"],
        "安达",
        "扎",
        10,
        200,
        690,
        &["3x100", "4x200", "5x300"],
        &["白色", "黑色"],
    ),
    (
        "JD",
        "绝缘胶带 PVC 电工",
        ["五金工具", "电工材料", "胶带"],
        "3M",
        "卷",
        10,
        200,
        320,
        &["10米", "20米"],
        &["黑色", "红色", "蓝色"],
    ),
];

const BRANDS: [&str; 8] = [
    "3M",
    "双安",
    "回力",
    "长城精工",
    "东成",
    "代尔塔",
    "东方雨虹",
    "世达",
];

/// EAN-13 from twelve digits: the check digit makes the barcode scan.
fn ean13(twelve: u64) -> String {
    let digits: Vec<u32> = format!("{twelve:012}")
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    format!("{twelve:012}{}", (10 - sum % 10) % 10)
}

/// Thirty product families, 300+ SKUs, on top of the six fixture products.
pub async fn load_wholesale_range(store: &Store, now_ms: i64) -> anyhow::Result<()> {
    let levels = store.members().list_levels().await?;
    let level = |name: &str| levels.iter().find(|l| l.name == name).map(|l| l.id);
    let (silver, gold) = (level("银牌会员"), level("金牌会员"));
    // Tags (C1) and the spec library (规格库): every SKU's grade is an attribute from it.
    let mut tags = Vec::new();
    for (sort, name) in ["新品", "热卖", "工地专用", "清仓特价"].iter().enumerate() {
        tags.push(
            store
                .catalog()
                .insert_product_tag(name, i64::try_from(sort)?, now_ms)
                .await?,
        );
    }
    let tag = |i: usize| tags.get(i).copied();
    store
        .catalog()
        .insert_spec_attribute(
            "款式",
            &["标准款".to_owned(), "加强款".to_owned()],
            0,
            now_ms,
        )
        .await?;
    store
        .catalog()
        .insert_spec_attribute(
            "颜色",
            &["红色", "黄色", "白色", "蓝色", "橙色", "黑色", "灰色"].map(str::to_owned),
            1,
            now_ms,
        )
        .await?;
    for brand in BRANDS {
        if !store
            .catalog()
            .list_brands()
            .await?
            .iter()
            .any(|b| b.name == brand)
        {
            store
                .catalog()
                .insert_brand(brand, None, "", now_ms)
                .await?;
        }
    }
    let brands = store.catalog().list_brands().await?;
    let supplier = store.accounts().user_id_by_phone("13800000051").await?;
    let mut barcode = 690_300_000_000_u64;
    for (index, (prefix, name, path, brand, item_unit, inner, outer, price, models, specs)) in
        FAMILIES.iter().enumerate()
    {
        let category = category_for(store, path, now_ms).await?;
        let unit = unit_for(store, item_unit, *inner, *outer, now_ms).await?;
        let mut skus = Vec::new();
        // Every model comes as a standard and a reinforced grade (标准款 / 加强款).
        for (g, grade) in ["标准款", "加强款"].iter().enumerate() {
            for (m, model) in models.iter().enumerate() {
                for (s, spec) in specs.iter().enumerate() {
                    barcode += 1;
                    let price_fen = (price + i64::try_from(m * 150 + s * 40)?)
                        * if g == 0 { 100 } else { 112 }
                        / 100;
                    let mut level_prices = Vec::new();
                    level_prices.extend(silver.map(|id| LevelPrice {
                        level_id: id,
                        price_fen: price_fen * 95 / 100,
                    }));
                    level_prices.extend(gold.map(|id| LevelPrice {
                        level_id: id,
                        price_fen: price_fen * 90 / 100,
                    }));
                    skus.push(NewSku {
                        attributes: [("款式".to_owned(), (*grade).to_owned())].into(),
                        model: format!("{model} {grade}"),
                        spec: (*spec).to_owned(),
                        price_fen,
                        cost_fen: Some(price_fen * 7 / 10),
                        stock: i64::try_from((index * 37 + m * 13 + s * 7 + g * 5) % 400 + 15)?,
                        allow_backorder: index % 5 == 0,
                        low_stock_threshold: Some(20),
                        weight_g: Some(i64::try_from(200 + index * 30)?),
                        barcode: Some(ean13(barcode)),
                        level_prices,
                        breaks: vec![
                            PriceBreak {
                                min_qty: inner * 10,
                                price_fen: price_fen * 93 / 100,
                            },
                            PriceBreak {
                                min_qty: inner * 50,
                                price_fen: price_fen * 86 / 100,
                            },
                        ],
                    });
                }
            }
        }
        let product = NewProduct {
            tag_ids: [
                (index % 3 == 0).then(|| tag(2)).flatten(),
                (index % 7 == 0).then(|| tag(1)).flatten(),
                (index >= FAMILIES.len() - 4).then(|| tag(0)).flatten(),
            ]
            .into_iter()
            .flatten()
            .collect(),
            item_no: format!("{prefix}-{:03}", 100 + index),
            name: (*name).to_owned(),
            description: format!("{name}，{}批发，海口、三亚、琼海配送。", path[2]),
            brand_id: brands.iter().find(|b| b.name == *brand).map(|b| b.id),
            category_id: Some(category),
            supplier_id: supplier,
            unit_id: unit,
            on_shelf: true,
            skus,
        };
        let id = store.catalog().insert_product(&product, now_ms).await?;
        if index % 7 == 0 {
            let flags = crate::catalog::storage::ProductChanges {
                hot: Some(true),
                recommended: Some(index % 2 == 0),
                ..Default::default()
            };
            store.catalog().update_product(id, &flags, now_ms).await?;
        }
        store.catalog().reindex_product(id).await?;
    }
    Ok(())
}

async fn category_for(store: &Store, path: &[&str; 3], now_ms: i64) -> anyhow::Result<i64> {
    let mut parent = None;
    for (depth, name) in path.iter().enumerate() {
        let existing = store
            .catalog()
            .list_categories()
            .await?
            .iter()
            .find(|c| c.name == *name && c.parent_id == parent)
            .map(|c| c.id);
        parent = Some(match existing {
            Some(id) => id,
            None => {
                store
                    .catalog()
                    .insert_category(parent, name, i64::try_from(depth + 1)?, 0, now_ms)
                    .await?
            }
        });
    }
    parent.ok_or_else(|| anyhow::anyhow!("empty category path"))
}

async fn unit_for(
    store: &Store,
    item: &str,
    inner: i64,
    outer: i64,
    now_ms: i64,
) -> anyhow::Result<i64> {
    // Units outside the seed's 14 packing forms (双, 副 …) add theirs to the library.
    for pack in ["盒", "箱"] {
        store.catalog().ensure_unit_form(item, pack).await?;
    }
    let wanted = Unit {
        id: 0,
        item_unit: item.to_owned(),
        inner_qty: inner,
        inner_unit: "盒".to_owned(),
        outer_qty: outer,
        outer_unit: "箱".to_owned(),
    };
    if let Some(unit) = store
        .catalog()
        .list_units()
        .await?
        .into_iter()
        .find(|u| u.label() == wanted.label())
    {
        return Ok(unit.id);
    }
    Ok(store.catalog().insert_unit(&wanted, now_ms).await?)
}

/// Three members in each region at every step: authorised, profile complete (waiting for
/// review), approved (at one of the levels) and rejected with a reason. Password `pifa1234`.
pub async fn load_members(store: &Store, hasher: &Hasher, now_ms: i64) -> anyhow::Result<()> {
    let password = Password::parse(super::demo::DEMO_PASSWORD, "password")
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let hash = hasher.hash(&password).await?;
    let levels = store.members().list_levels().await?;
    let reviewer = store
        .accounts()
        .user_id_by_phone("13800000002")
        .await?
        .unwrap_or_default();
    let shops = ["五金店", "建材行", "劳保用品店"];
    for (r, region) in store.regions().list_regions().await?.iter().enumerate() {
        let steps = [
            (MemberState::Authorised, "兴旺", "林"),
            (MemberState::ProfileComplete, "顺达", "符"),
            (MemberState::Approved, "永盛", "王"),
            (MemberState::Rejected, "广源", "吴"),
        ];
        for (s, (state, shop_word, surname)) in steps.into_iter().enumerate() {
            let phone = format!("139{:02}{:02}{:04}", r + 1, s + 1, 1);
            let kind = shops.iter().cycle().nth(r + s).copied().unwrap_or("五金店");
            let shop = format!("{}{shop_word}{kind}", region.name);
            let user = NewUser {
                phone: phone.clone(),
                email: None,
                name: format!("{surname}老板"),
                company_name: Some(shop.clone()),
                password_hash: Some(hash.clone()),
                member_state: Some(MemberState::Authorised),
                vehicle_plate: None,
                roles: [Role::Member].into(),
                region_ids: Default::default(),
            };
            let id = store.accounts().insert_user(&user, now_ms).await?;
            if state == MemberState::Authorised {
                continue;
            }
            let address = AddressFields {
                province: "海南省".into(),
                city: format!("{}市", region.name),
                district: "城区".into(),
                detail: format!("{shop}门面"),
                contact_name: user.name.clone(),
                phone: phone.clone(),
            };
            let profile = ProfileWrite {
                shop_name: shop,
                contact_name: user.name.clone(),
                region_id: region.id,
                wechat_id: format!("wx_{phone}"),
                address,
                shop_photo: None,
                licence: None,
            };
            store.members().save_profile(id, &profile, now_ms).await?;
            match state {
                MemberState::Approved => {
                    let level = levels.get(r % levels.len()).map(|l| l.id);
                    store
                        .members()
                        .set_standing(id, MemberState::Approved, level, Some(region.id), now_ms)
                        .await?;
                }
                MemberState::Rejected => {
                    store
                        .members()
                        .reject_member(id, "营业执照照片不清晰，请重新上传", reviewer, now_ms)
                        .await?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn barcodes_carry_a_valid_check_digit() {
        assert_eq!(super::ean13(690_123_450_001), "6901234500011");
        assert_eq!(super::ean13(400_638_133_393), "4006381333931");
    }
}
