//! Accounts: users, credentials, sessions, verification codes, roles and permissions, the
//! login and operation logs, and staff administration (REQUIREMENTS A1, A2, A4–A6).
//!
//! Input is parsed at the edge into the types below (`Phone`, `Email`, `Password`, `Role`);
//! everything after the handlers works with valid values only.

pub mod audit;
pub mod caller;
pub mod codes;
pub mod passwords;
pub mod permissions;
pub mod rate_limit;
pub mod sessions;
pub mod users;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

crate::store::handle! {
    /// The accounts' part of the store: users, sessions, sign-in codes, rate limits and the audit logs.
    pub AccountStore, accounts
}

/// A mainland-China mobile number: 11 digits starting 1[3-9]. `+86`, spaces and dashes are
/// accepted on input and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Phone, ApiError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits);
        let valid = digits.len() == 11
            && digits.chars().all(|c| c.is_ascii_digit())
            && digits.starts_with('1')
            && matches!(digits.as_bytes().get(1), Some(b'3'..=b'9'));
        if valid {
            Ok(Phone(digits.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "invalid_phone",
                "phone",
                "手机号格式不正确，应为11位手机号 (phone: 11-digit mobile number expected)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****0000`: the form phones take in logs and in lists shown to other people.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

pub fn mask_phone(phone: &str) -> String {
    match (phone.get(..3), phone.get(phone.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) if phone.len() == 11 => format!("{head}****{tail}"),
        _ => "***".to_owned(),
    }
}

/// A lower-cased e-mail address with one `@`, a non-empty local part and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, ApiError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if valid {
            Ok(Email(email))
        } else {
            Err(ApiError::invalid_field(
                "invalid_email",
                "email",
                "邮箱格式不正确 (email: not a valid address)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 64 characters with at least one letter and one digit.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str, field: &str) -> Result<Password, ApiError> {
        let length = raw.chars().count();
        let strong = (8..=64).contains(&length)
            && raw.chars().any(|c| c.is_ascii_alphabetic())
            && raw.chars().any(|c| c.is_ascii_digit());
        if strong {
            Ok(Password(raw.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "weak_password",
                field,
                "密码需8-64位，且同时包含字母和数字 (password: 8-64 characters with letters and digits)",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A required short text (a name): trimmed, 1 to `max` characters.
/// Optional free text (a remark, a description): trimmed, at most `max` characters.
pub fn parse_text(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    crate::text::refuse_control_chars(raw, field)?;
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(
            "invalid_input",
            field,
            format!("{field}: 最多{max}个字符 (at most {max} characters)"),
        ));
    }
    Ok(value.to_owned())
}

pub fn parse_name(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    crate::text::refuse_control_chars(raw, field)?;
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > max {
        return Err(ApiError::invalid_field(
            "invalid_input",
            field,
            format!("{field}: 必填，最多{max}个字符 (required, at most {max} characters)"),
        ));
    }
    Ok(name.to_owned())
}

/// The roles of REQUIREMENTS A1. One person may hold several.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CustomerService,
    Manager,
    Promoter,
    Driver,
    Verifier,
    Member,
    Supplier,
}

impl Role {
    /// Every role but member is a staff role: staff are created by admins, members sign up.
    pub fn is_staff(self) -> bool {
        self != Role::Member
    }

    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::CustomerService,
        Role::Manager,
        Role::Promoter,
        Role::Driver,
        Role::Verifier,
        Role::Member,
        Role::Supplier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CustomerService => "customer_service",
            Role::Manager => "manager",
            Role::Promoter => "promoter",
            Role::Driver => "driver",
            Role::Verifier => "verifier",
            Role::Member => "member",
            Role::Supplier => "supplier",
        }
    }

    pub fn from_db(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The entry this role adds to the member's "My" page (我的), A1.
    pub fn entry_label(self) -> &'static str {
        match self {
            Role::Admin => "平台管理",
            Role::CustomerService => "客服工作台",
            Role::Manager => "业务端",
            Role::Promoter => "推广端",
            Role::Driver => "司机端",
            Role::Verifier => "核销端",
            Role::Member => "会员中心",
            Role::Supplier => "供应商端",
        }
    }

    /// Staff roles serve regions; only these may be given regions.
    pub fn is_regional(self) -> bool {
        matches!(
            self,
            Role::Manager | Role::Driver | Role::Promoter | Role::Verifier
        )
    }
}

/// Where a member stands in the B1 lifecycle. A form sign-up lands in `Authorised`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    Authorised,
    ProfileComplete,
    Approved,
    Rejected,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Authorised => "authorised",
            MemberState::ProfileComplete => "profile_complete",
            MemberState::Approved => "approved",
            MemberState::Rejected => "rejected",
        }
    }

    pub fn from_db(text: &str) -> Option<MemberState> {
        [
            MemberState::Authorised,
            MemberState::ProfileComplete,
            MemberState::Approved,
            MemberState::Rejected,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_or_refused() {
        assert_eq!(
            Phone::parse("+86 138-0013-8000").map(|p| p.0).ok(),
            Some("13800138000".to_owned())
        );
        for bad in [
            "",
            "1380013800",
            "23800138000",
            "12800138000",
            "1380013800a",
            "138001380001",
        ] {
            let err = Phone::parse(bad).err().map(|e| (e.code, e.field));
            assert_eq!(
                err,
                Some(("invalid_phone", Some("phone".to_owned()))),
                "{bad}"
            );
        }
        assert_eq!(mask_phone("13800138000"), "138****8000");
    }

    #[test]
    fn emails_are_lowercased_or_refused() {
        assert_eq!(
            Email::parse(" Li@Example.COM ").map(|e| e.0).ok(),
            Some("li@example.com".to_owned())
        );
        for bad in [
            "", "li", "li@", "@x.cn", "li@x", "li@@x.cn", "li @x.cn", "li@x..cn", "li@.x.cn",
        ] {
            assert_eq!(
                Email::parse(bad).err().map(|e| e.code),
                Some("invalid_email"),
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_need_letters_digits_and_length() {
        assert!(Password::parse("abc12345", "password").is_ok());
        for bad in ["abc1234", "abcdefgh", "12345678", &"a1".repeat(33)] {
            assert_eq!(
                Password::parse(bad, "password").err().map(|e| e.code),
                Some("weak_password")
            );
        }
    }
}
