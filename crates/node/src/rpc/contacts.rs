//! The contact and paired-device methods of status-go's `wakuext` service (v0.79
//! `services/ext/api.go`), served by the node's messenger. Without an account each answers
//! "this node runs without an account; start it with --account".
//!
//! | method | params | result |
//! |---|---|---|
//! | `wakuext_contacts` | none | `[Contact]` |
//! | `wakuext_getContactByID` | `KEY` | `Contact` or `null` |
//! | `wakuext_addContact` | `KEY` or `{id: KEY, nickname?, ensName?}` | `MessengerResponse` with the contact and its chat |
//! | `wakuext_removeContact` | `KEY` | `MessengerResponse` with the contact |
//! | `wakuext_blockContact` | `KEY` or `{id: KEY}` | `[Chat]` that changed |
//! | `wakuext_unblockContact` | `KEY` | `MessengerResponse` with the contact |
//! | `wakuext_saveContact` | `{id: KEY, localNickname?, name?, systemTags?}` | `null` |
//! | `wakuext_sendContactUpdate` | `KEY, ENS_NAME, PROFILE_IMAGE` | `MessengerResponse` with the contact |
//! | `wakuext_sendContactUpdates` | `ENS_NAME, PROFILE_IMAGE` | `null` |
//! | `wakuext_getOurInstallations` | none | `[Installation]` (this one first) |
//! | `wakuext_setInstallationMetadata` | `INSTALLATION_ID, {name, deviceType}` | `null` |
//! | `wakuext_sendPairInstallation` | none | `MessengerResponse` (empty) |
//! | `wakuext_enableInstallation` | `INSTALLATION_ID` | `null` |
//! | `wakuext_disableInstallation` | `INSTALLATION_ID` | `null` |
//! | `wakuext_syncDevices` | `NAME?, PICTURE?` (ignored) | `null` |
//!
//! - `KEY` is a chat key: `0x04…`, compressed `0x02…`/`0x03…`, or `zQ3…`.
//! - `Contact` is status-go's: {`id`, `address`, `name` (ENS name, as text), `alias`,
//!   `identicon`, `lastUpdated`, `systemTags` (`:contact/added`, `:contact/blocked`,
//!   `:contact/request-received`), `localNickname`, `images`} plus `displayName` (from their
//!   `ChatIdentity`), `added`, `blocked`, `hasAddedUs`.
//! - `Installation` is status-go's: {`id`, `identity`, `version`, `enabled`, `timestamp`,
//!   `metadata`: {`name`, `deviceType`, `fcmToken`}} plus `thisDevice`.
//! - `setInstallationMetadata` sets this installation's own metadata (status-go's too: the
//!   id must be ours).

use serde_json::{Map, Value, json};
use wisp_crypto::PublicKey;
use wisp_messenger::store::{TAG_ADDED, TAG_BLOCKED};
use wisp_messenger::{InstallationInfo, StoredContact};

use super::chat::{Profiles, Quotes, chat_json, chat_of, response};
use super::{Module, error::RpcError, method, types::Args};

/// Longest name, device type, nickname or ENS name accepted, in bytes.
const MAX_NAME: usize = wisp_messenger::MAX_NAME_BYTES;

/// A chat key parameter.
fn key_param(field: &str, s: &str) -> Result<PublicKey, RpcError> {
    wisp_accounts::parse_public_key(s).map_err(|e| {
        RpcError::Params(format!(
            "{field} {s:?} is not a chat key (0x04…, 0x02…/0x03… or zQ3…): {e}"
        ))
    })
}

/// A contact key given as a string or as an object with `id`.
fn key_or_object(args: &Args, what: &'static str) -> Result<(PublicKey, Option<Value>), RpcError> {
    match args.required(0, what)? {
        Value::String(s) => Ok((key_param(what, s)?, None)),
        object @ Value::Object(map) => {
            let id = map
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::Params(format!("{what}.id is required (a chat key)")))?;
            Ok((key_param(&format!("{what}.id"), id)?, Some(object.clone())))
        }
        _ => Err(RpcError::Params(format!("{what} must be a chat key or an object {{id}}"))),
    }
}

fn optional_string<'a>(
    object: Option<&'a Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, RpcError> {
    match object.and_then(|o| o.get(key)).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > MAX_NAME {
                return Err(RpcError::Params(format!(
                    "{what}.{key} is longer than {MAX_NAME} bytes"
                )));
            }
            Ok(Some(s))
        }
        Some(_) => Err(RpcError::Params(format!("{what}.{key} must be a string"))),
    }
}

fn string_arg(args: &Args, index: usize, what: &str) -> Result<String, RpcError> {
    match args.opt(index) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(RpcError::Params(format!("{what} must be a string"))),
    }
}

/// status-go's `Contact` JSON.
pub(crate) fn contact_json(c: &StoredContact, profiles: &Profiles) -> Value {
    let profile = profiles.of(&c.key);
    let address = wisp_accounts::to_checksum_address(&wisp_accounts::address::address_of(&c.key));
    let images: Map<String, Value> = c
        .identity
        .as_ref()
        .map(|i| {
            i.images
                .iter()
                .map(|(name, image)| {
                    (
                        name.clone(),
                        json!({
                            "payload": hex::encode(&image.payload),
                            "sourceType": image.source_type,
                            "imageType": image.image_type,
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": c.id(),
        "address": address,
        "name": c.ens_name,
        "ensVerified": false,
        "alias": profile.0,
        "identicon": profile.1,
        "lastUpdated": c.last_updated,
        "systemTags": c.system_tags(),
        "localNickname": c.local_nickname,
        "displayName": c.display_name,
        "profileImage": c.profile_image,
        "images": images,
        "added": c.added,
        "blocked": c.blocked,
        "hasAddedUs": c.has_added_us,
    })
}

/// status-go's `Installation` JSON.
fn installation_json(i: &InstallationInfo, identity: &PublicKey) -> Value {
    json!({
        "id": i.id,
        "identity": format!("0x{}", hex::encode(identity.to_uncompressed())),
        "version": i.version,
        "enabled": i.enabled,
        "timestamp": i.timestamp,
        "thisDevice": i.this_device,
        "metadata": i.metadata.as_ref().map(|m| json!({
            "name": m.name,
            "deviceType": m.device_type,
            "fcmToken": "",
        })),
    })
}

/// `{contacts: [Contact], chats?: [Chat]}`.
fn contact_response(
    contact: &StoredContact,
    chats: &[wisp_messenger::StoredChat],
    profiles: &Profiles,
) -> Value {
    let mut value = response(chats, &[], profiles, &Quotes::new());
    if let Value::Object(map) = &mut value {
        map.insert("contacts".into(), json!([contact_json(contact, profiles)]));
    }
    value
}

fn installation_id(args: &Args, what: &str) -> Result<String, RpcError> {
    let id = args.string(0, what)?;
    if id.is_empty() || id.len() > MAX_NAME {
        return Err(RpcError::Params(format!(
            "{what} must be an installation id (1 to {MAX_NAME} bytes; see wakuext_getOurInstallations)"
        )));
    }
    Ok(id.to_owned())
}

/// Registers the contact and installation methods.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "wakuext_contacts", 0, |_, st| async move {
        let contacts = chat_of(&st)?.contacts().await?;
        Ok(contacts.iter().map(|c| contact_json(c, &st.profiles)).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_getContactByID", 1, |args, st| async move {
        let key = key_param("contact id", args.string(0, "contact id")?)?;
        let contact = chat_of(&st)?.contact(key).await?;
        Ok(contact.map_or(Value::Null, |c| contact_json(&c, &st.profiles)))
    })?;
    method(m, "wakuext_addContact", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let (key, object) = key_or_object(&args, "AddContact")?;
        let nickname = optional_string(object.as_ref(), "nickname", "AddContact")?;
        let ens_name = optional_string(object.as_ref(), "ensName", "AddContact")?;
        let (contact, opened) = chat
            .add_contact(key, nickname.map(str::to_owned), ens_name.unwrap_or_default().to_owned())
            .await?;
        let chats: Vec<_> = opened.into_iter().collect();
        Ok(contact_response(&contact, &chats, &st.profiles))
    })?;
    method(m, "wakuext_removeContact", 1, |args, st| async move {
        let key = key_param("contact id", args.string(0, "contact id")?)?;
        let contact = chat_of(&st)?.remove_contact(key).await?;
        Ok(contact_response(&contact, &[], &st.profiles))
    })?;
    method(m, "wakuext_blockContact", 1, |args, st| async move {
        let (key, _) = key_or_object(&args, "BlockContact")?;
        let chats = chat_of(&st)?.block_contact(key).await?;
        Ok(chats.iter().map(|c| chat_json(c, &st.profiles)).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_unblockContact", 1, |args, st| async move {
        let key = key_param("contact id", args.string(0, "contact id")?)?;
        let contact = chat_of(&st)?.unblock_contact(key).await?;
        Ok(contact_response(&contact, &[], &st.profiles))
    })?;
    method(m, "wakuext_saveContact", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let (key, object) = key_or_object(&args, "Contact")?;
        let object = object.ok_or_else(|| {
            RpcError::Params("Contact must be an object {id, localNickname?, systemTags?}".into())
        })?;
        let mut contact = chat.contact(key).await?.unwrap_or_else(|| StoredContact::new(key));
        if let Some(nickname) = optional_string(Some(&object), "localNickname", "Contact")? {
            nickname.clone_into(&mut contact.local_nickname);
        }
        if let Some(name) = optional_string(Some(&object), "name", "Contact")? {
            name.clone_into(&mut contact.ens_name);
        }
        match object.get("systemTags").filter(|v| !v.is_null()) {
            None => {}
            Some(Value::Array(tags)) => {
                let has = |tag: &str| tags.iter().any(|t| t.as_str() == Some(tag));
                if tags.iter().any(|t| !t.is_string()) {
                    return Err(RpcError::Params(
                        "Contact.systemTags must be an array of strings".into(),
                    ));
                }
                contact.added = has(TAG_ADDED);
                contact.blocked = has(TAG_BLOCKED);
            }
            Some(_) => {
                return Err(RpcError::Params(
                    "Contact.systemTags must be an array of strings".into(),
                ));
            }
        }
        chat.save_contact(contact).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_sendContactUpdate", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let key = key_param("contact id", args.string(0, "contact id")?)?;
        let ens_name = string_arg(&args, 1, "ensName")?;
        let image = string_arg(&args, 2, "profileImage")?;
        chat.send_contact_update(key, ens_name, image).await?;
        let contact = chat.contact(key).await?.unwrap_or_else(|| StoredContact::new(key));
        Ok(contact_response(&contact, &[], &st.profiles))
    })?;
    method(m, "wakuext_sendContactUpdates", 2, |args, st| async move {
        let ens_name = string_arg(&args, 0, "ensName")?;
        let image = string_arg(&args, 1, "profileImage")?;
        chat_of(&st)?.send_contact_updates(ens_name, image).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_getOurInstallations", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let list = chat.our_installations().await?;
        Ok(list.iter().map(|i| installation_json(i, chat.public_key())).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_setInstallationMetadata", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = installation_id(&args, "installation id")?;
        if id != chat.installation_id().await? {
            return Err(RpcError::Params(format!(
                "installation id {id:?} is not this device's: only its own metadata can be set"
            )));
        }
        let metadata = args.object(1, "InstallationMetadata")?;
        let name = metadata.str("name")?.unwrap_or_default();
        let device_type = metadata.str("deviceType")?.unwrap_or_default();
        for (key, value) in [("name", name), ("deviceType", device_type)] {
            if value.len() > MAX_NAME {
                return Err(RpcError::Params(format!(
                    "InstallationMetadata.{key} is longer than {MAX_NAME} bytes"
                )));
            }
        }
        chat.set_installation_metadata(name.to_owned(), device_type.to_owned()).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_sendPairInstallation", 0, |_, st| async move {
        chat_of(&st)?.send_pair_installation().await?;
        Ok(json!({}))
    })?;
    method(m, "wakuext_enableInstallation", 1, |args, st| async move {
        let id = installation_id(&args, "installation id")?;
        chat_of(&st)?.enable_installation(id).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_disableInstallation", 1, |args, st| async move {
        let id = installation_id(&args, "installation id")?;
        chat_of(&st)?.disable_installation(id).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_syncDevices", 2, |_, st| async move {
        chat_of(&st)?.sync_devices().await?;
        Ok(Value::Null)
    })?;
    Ok(())
}
