//! The outside delivery channels (K1, K2) against local fakes of the providers: the kernel's
//! adapters called directly, what arrives checked on the fake's side.

use pifa::channels::Channel;
use pifa::channels::{
    AliyunSms, AliyunSmsConfig, Outgoing, Providers, SendError, Sent, Smtp, SmtpConfig, Wechat,
    WechatConfig,
};
use pifa_e2e::fakes::{FakeSms, FakeSmtp, FakeWechat, closed_port};
use serde_json::{Value, json};

const ORDER_PLACED: &str = "有新订单P202405200001，请尽快登录小程序业务管理查看处理。";

fn message<'a>(id: i64, to: &'a str, template: &'a str, params: &'a Value) -> Outgoing<'a> {
    Outgoing {
        id,
        to,
        template,
        params,
        body: ORDER_PLACED,
    }
}

fn permanent(result: Result<Sent, SendError>) -> anyhow::Result<String> {
    match result {
        Err(SendError::Permanent(reason)) => Ok(reason),
        other => anyhow::bail!("expected a permanent failure, got {other:?}"),
    }
}

fn transient(result: Result<Sent, SendError>) -> anyhow::Result<String> {
    match result {
        Err(SendError::Transient(reason)) => Ok(reason),
        other => anyhow::bail!("expected a transient failure, got {other:?}"),
    }
}

#[tokio::test]
async fn sms_arrives_signed_with_its_template_and_out_id() -> anyhow::Result<()> {
    let fake = FakeSms::start().await?;
    let sms = AliyunSms::new(fake.config()?)?;
    let params = json!({ "order_no": "P202405200001" });

    let sent = sms
        .send(&message(42, "13800000011", "SMS_465170001", &params))
        .await?;
    assert!(sent.provider_ref.ends_with("^0"), "{sent:?}");
    // A resend after a crash: same outbox id, same OutId, a new nonce and signature.
    sms.send(&message(42, "13800000011", "SMS_465170001", &params))
        .await?;

    let received = fake.received().await;
    assert_eq!(received.len(), 2);
    for sms in &received {
        assert_eq!(sms.phone_numbers, "13800000011");
        assert_eq!(sms.sign_name, FakeSms::SIGN_NAME);
        assert_eq!(sms.template_code, "SMS_465170001");
        assert_eq!(sms.template_param, params);
        assert_eq!(sms.out_id.as_deref(), Some("42"));
        assert_eq!(sms.method, "POST");
    }
    Ok(())
}

#[tokio::test]
async fn sms_with_a_wrong_secret_is_refused_for_good() -> anyhow::Result<()> {
    let fake = FakeSms::start().await?;
    let sms = AliyunSms::new(AliyunSmsConfig::new(
        fake.url()?,
        FakeSms::KEY_ID,
        "not-the-secret",
        FakeSms::SIGN_NAME,
    ))?;
    let params = json!({ "order_no": "P1" });
    let reason = permanent(
        sms.send(&message(1, "13800000011", "SMS_465170001", &params))
            .await,
    )?;
    assert!(reason.contains("SignatureDoesNotMatch"), "{reason}");
    assert!(!reason.contains("not-the-secret"), "{reason}");

    let unknown_key = AliyunSms::new(AliyunSmsConfig::new(
        fake.url()?,
        "someone-else",
        FakeSms::KEY_SECRET,
        FakeSms::SIGN_NAME,
    ))?;
    let reason = permanent(
        unknown_key
            .send(&message(1, "13800000011", "SMS_465170001", &params))
            .await,
    )?;
    assert!(reason.contains("InvalidAccessKeyId.NotFound"), "{reason}");
    assert!(fake.received().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn sms_refusals_of_the_number_or_template_are_permanent() -> anyhow::Result<()> {
    let fake = FakeSms::start().await?;
    let sms = AliyunSms::new(fake.config()?)?;
    let params = json!({ "order_no": "P1" });
    let reason = permanent(
        sms.send(&message(1, "12345", "SMS_465170001", &params))
            .await,
    )?;
    assert!(reason.contains("isv.MOBILE_NUMBER_ILLEGAL"), "{reason}");
    let reason = permanent(
        sms.send(&message(2, "13800000011", "order_placed", &params))
            .await,
    )?;
    assert!(reason.contains("isv.SMS_TEMPLATE_ILLEGAL"), "{reason}");
    assert!(fake.received().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn sms_provider_down_or_throttling_is_transient() -> anyhow::Result<()> {
    let fake = FakeSms::start().await?;
    let sms = AliyunSms::new(fake.config()?)?;
    let params = json!({ "order_no": "P1" });
    let throttled = message(7, "13800000011", "SMS_465170001", &params);
    let send = || sms.send(&throttled);

    fake.set_down(true);
    let reason = transient(send().await)?;
    assert!(reason.contains("503"), "{reason}");

    fake.set_down(false);
    fake.set_error(Some((
        "isv.BUSINESS_LIMIT_CONTROL",
        "触发分钟级流控Permits:1",
    )))
    .await;
    let reason = transient(send().await)?;
    assert!(reason.contains("isv.BUSINESS_LIMIT_CONTROL"), "{reason}");

    fake.set_error(None).await;
    send().await?;
    assert_eq!(fake.received().await.len(), 1);
    assert_eq!(fake.requests(), 3);

    // Nothing listening at all: the connection is refused.
    let nowhere = AliyunSms::new(AliyunSmsConfig::new(
        format!("http://{}/", closed_port().await?).parse()?,
        FakeSms::KEY_ID,
        FakeSms::KEY_SECRET,
        FakeSms::SIGN_NAME,
    ))?;
    transient(
        nowhere
            .send(&message(7, "13800000011", "SMS_465170001", &params))
            .await,
    )?;
    Ok(())
}

#[tokio::test]
async fn wechat_token_is_fetched_once_and_refreshed_when_expired() -> anyhow::Result<()> {
    let fake = FakeWechat::start().await?;
    let wechat = Wechat::new(fake.config()?)?;
    let params = json!({ "character_string1": "P202405200001", "amount2": "¥128.00" });
    let openid = "oFakeOpenid0000000000000001";

    let first = wechat
        .send(&message(1, openid, "TPL-order-paid", &params))
        .await?;
    wechat
        .send(&message(2, openid, "TPL-order-paid", &params))
        .await?;
    assert_eq!(fake.token_fetches().await, 1);
    assert!(!first.provider_ref.is_empty());

    fake.expire_token().await;
    wechat
        .send(&message(3, openid, "TPL-order-paid", &params))
        .await?;
    assert_eq!(fake.token_fetches().await, 2);

    let received = fake.received().await;
    assert_eq!(received.len(), 3);
    let last = received.last().ok_or_else(|| anyhow::anyhow!("nothing"))?;
    assert_eq!(last.touser, openid);
    assert_eq!(last.template_id, "TPL-order-paid");
    assert_eq!(
        last.data,
        json!({
            "character_string1": { "value": "P202405200001" },
            "amount2": { "value": "¥128.00" },
        })
    );
    assert_eq!(last.miniprogram_state.as_deref(), Some("formal"));
    assert_eq!(last.lang.as_deref(), Some("zh_CN"));
    assert_eq!(last.access_token, "fake-token-2");
    assert_eq!(received[0].access_token, "fake-token-1");
    Ok(())
}

#[tokio::test]
async fn wechat_refusals_are_permanent_and_busy_is_transient() -> anyhow::Result<()> {
    let fake = FakeWechat::start().await?;
    let wechat = Wechat::new(fake.config()?)?;
    let params = json!({ "thing1": "您的订单正在发货中" });

    fake.refuse("oNotSubscribed").await;
    let reason = permanent(
        wechat
            .send(&message(1, "oNotSubscribed", "TPL-dispatched", &params))
            .await,
    )?;
    assert!(reason.contains("43101"), "{reason}");

    fake.set_busy(true);
    let reason = transient(
        wechat
            .send(&message(2, "oSubscribed", "TPL-dispatched", &params))
            .await,
    )?;
    assert!(reason.contains("-1"), "{reason}");
    fake.set_busy(false);
    wechat
        .send(&message(2, "oSubscribed", "TPL-dispatched", &params))
        .await?;

    // A wrong app secret: no token, so nothing can be sent until someone fixes the setting.
    let misconfigured = Wechat::new(WechatConfig::new(
        fake.url()?,
        FakeWechat::APPID,
        "wrong-secret",
    ))?;
    let reason = transient(
        misconfigured
            .send(&message(3, "oSubscribed", "TPL-dispatched", &params))
            .await,
    )?;
    assert!(reason.contains("40125"), "{reason}");
    assert!(!reason.contains("wrong-secret"), "{reason}");
    assert_eq!(fake.received().await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn email_in_chinese_arrives_intact() -> anyhow::Result<()> {
    let fake = FakeSmtp::start().await?;
    let smtp = Smtp::new(fake.config("批发商城 <noreply@pifa.test>"))?;

    let with_subject = json!({ "subject": "新订单通知：P202405200001" });
    let sent = smtp
        .send(&message(1, "经理 <manager@pifa.test>", "", &with_subject))
        .await?;
    assert!(sent.provider_ref.contains("queued as FAKE"), "{sent:?}");
    let no_subject = json!({});
    smtp.send(&message(2, "manager@pifa.test", "", &no_subject))
        .await?;

    let received = fake.received().await;
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.mail_from, "noreply@pifa.test");
    assert_eq!(first.rcpt_to, vec!["manager@pifa.test".to_owned()]);
    assert_eq!(first.from.as_deref(), Some("noreply@pifa.test"));
    assert_eq!(first.subject.as_deref(), Some("新订单通知：P202405200001"));
    assert_eq!(first.body.as_deref().map(str::trim_end), Some(ORDER_PLACED));
    assert_eq!(first.content_type.as_deref(), Some("text/plain"));
    // The text travelled encoded, not as raw UTF-8 the fake merely echoed.
    assert!(!first.raw.contains("新订单通知"), "{}", first.raw);
    assert_eq!(received[1].subject.as_deref(), Some(ORDER_PLACED));
    Ok(())
}

#[tokio::test]
async fn email_refusals_are_permanent_and_unreachable_is_transient() -> anyhow::Result<()> {
    let fake = FakeSmtp::start().await?;
    let smtp = Smtp::new(fake.config("noreply@pifa.test"))?;
    let params = json!({});

    fake.reject_recipient("gone@pifa.test").await;
    let reason = permanent(smtp.send(&message(1, "gone@pifa.test", "", &params)).await)?;
    assert!(reason.contains("550"), "{reason}");
    permanent(smtp.send(&message(2, "not an address", "", &params)).await)?;

    fake.set_busy(true);
    let reason = transient(
        smtp.send(&message(3, "manager@pifa.test", "", &params))
            .await,
    )?;
    assert!(reason.contains("421"), "{reason}");
    fake.set_busy(false);

    let nowhere = Smtp::new(SmtpConfig::new(
        format!("smtp://{}", closed_port().await?),
        "noreply@pifa.test",
    ))?;
    transient(
        nowhere
            .send(&message(4, "manager@pifa.test", "", &params))
            .await,
    )?;
    assert!(fake.received().await.is_empty());
    Ok(())
}

#[tokio::test]
async fn providers_route_each_channel_to_its_adapter() -> anyhow::Result<()> {
    let sms_fake = FakeSms::start().await?;
    let smtp_fake = FakeSmtp::start().await?;
    let providers = Providers {
        sms: Some(AliyunSms::new(sms_fake.config()?)?),
        wechat: None,
        email: Some(Smtp::new(smtp_fake.config("noreply@pifa.test"))?),
    };
    assert!(providers.has(Channel::Sms));
    assert!(providers.has(Channel::Email));
    assert!(!providers.has(Channel::Wechat));
    assert!(!providers.has(Channel::Inbox));

    let params = json!({ "order_no": "P1" });
    providers
        .send(
            Channel::Sms,
            &message(5, "13800000011", "SMS_465170001", &params),
        )
        .await?;
    providers
        .send(
            Channel::Email,
            &message(6, "manager@pifa.test", "", &params),
        )
        .await?;
    permanent(
        providers
            .send(Channel::Wechat, &message(7, "oX", "TPL", &params))
            .await,
    )?;
    permanent(
        providers
            .send(Channel::Inbox, &message(8, "1", "", &params))
            .await,
    )?;
    assert_eq!(sms_fake.received().await.len(), 1);
    assert_eq!(smtp_fake.received().await.len(), 1);
    assert!(!Providers::none().has(Channel::Sms));
    Ok(())
}
