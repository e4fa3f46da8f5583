//! What happens to a call after it is recorded: status reports of its legs (only ever moving
//! forward), its recording and its voicemail's transcription. Each change emits its event in
//! its transaction; a replayed or late report writes nothing.

use workos_core::domain::{
    Call, CallLeg, CallProgress, CallRecording, CallTranscription, MAX_TRANSCRIPTION_CHARS,
    call_status_advances, call_status_is_final,
};
use workos_core::events::types;
use workos_core::ids::CallId;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::call_where;
use crate::SqlStore;
use crate::db::{Tx, args, now};
use crate::repos::emit;
use crate::repos::leads::for_update;

/// The live call with provider id `call_sid`, locked for the rest of the transaction, and
/// whether it was bridged.
async fn locked(
    tx: &mut Tx,
    store: &SqlStore,
    ctx: &TenantContext,
    call_sid: &str,
) -> Result<Option<(Call, bool)>> {
    let sql = format!(
        "SELECT bridged FROM calls WHERE org_id = $1 AND call_sid = $2 AND deleted_at IS NULL{}",
        for_update(store)
    );
    let Some((bridged,)): Option<(bool,)> = tx
        .fetch_optional(&sql, args![ctx.org_id(), call_sid])
        .await?
    else {
        return Ok(None);
    };
    let call = call_where(tx, ctx, "call_sid", call_sid.into()).await?;
    Ok(call.map(|c| (c, bridged)))
}

/// The call after `progress`, and whether it is bridged after it; `None` when the report does
/// not apply (another dialled leg, or the rep's end of a bridged call).
fn apply(current: &Call, bridged: bool, progress: &CallProgress) -> Option<(Call, bool)> {
    let mut call = current.clone();
    let mut bridged_after = bridged;
    match &progress.leg {
        // Once the customer is being dialled, the rep hanging up says nothing about them.
        CallLeg::Own if bridged && call_status_is_final(&progress.status) => return None,
        CallLeg::Own => {}
        CallLeg::Bridging => bridged_after = true,
        CallLeg::Dialed { call_sid } => {
            if let (Some(known), Some(sid)) = (&current.dial_call_sid, call_sid)
                && known != sid
            {
                return None;
            }
            if call.dial_call_sid.is_none() {
                call.dial_call_sid.clone_from(call_sid);
            }
        }
        // `CallLeg` is non-exhaustive: a leg this store does not know changes nothing.
        _ => return None,
    }
    if call_status_advances(&current.status, &progress.status) {
        call.status.clone_from(&progress.status);
        call.duration_seconds = progress.duration_seconds.or(current.duration_seconds);
    } else if current.status == progress.status && current.duration_seconds.is_none() {
        // The same status again, now with its length (a leg's `completed` carries it).
        call.duration_seconds = progress.duration_seconds;
    }
    Some((call, bridged_after))
}

/// [`workos_core::repo::CommsRepo::update_call_status`].
#[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
pub(super) async fn update_status(
    store: &SqlStore,
    ctx: &TenantContext,
    progress: CallProgress,
) -> Result<Option<Call>> {
    let mut tx = store.tenant_tx(ctx, Access::WriteCrm).await?;
    let Some((current, bridged)) = locked(&mut tx, store, ctx, &progress.call_sid).await? else {
        return Ok(None);
    };
    let Some((mut call, bridged_after)) = apply(&current, bridged, &progress) else {
        return Ok(Some(current));
    };
    if call == current && bridged_after == bridged {
        return Ok(Some(current));
    }
    let changed = call != current;
    if changed {
        call.updated_at = now();
    }
    tx.execute(
        "UPDATE calls SET status = $1, duration_seconds = $2, dial_call_sid = $3, bridged = $4,
             updated_at = $5
         WHERE org_id = $6 AND id = $7",
        args![
            call.status.as_str(),
            call.duration_seconds.map(i64::from),
            call.dial_call_sid.clone(),
            bridged_after,
            call.updated_at,
            ctx.org_id(),
            call.id
        ],
    )
    .await?;
    if changed {
        let event_type = if call.status == "completed" && current.status != "completed" {
            types::CALL_COMPLETED
        } else {
            types::CALL_STATUS_CHANGED
        };
        emit(
            &mut tx,
            ctx,
            event_type,
            CallId::KIND,
            call.id.as_uuid(),
            &call,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Some(call))
}

/// [`workos_core::repo::CommsRepo::record_recording`].
#[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
pub(super) async fn record_recording(
    store: &SqlStore,
    ctx: &TenantContext,
    rec: CallRecording,
) -> Result<Option<Call>> {
    let mut tx = store.tenant_tx(ctx, Access::WriteCrm).await?;
    let Some((current, _)) = locked(&mut tx, store, ctx, &rec.call_sid).await? else {
        return Ok(None);
    };
    if current.recording_sid.as_deref() == Some(rec.recording_sid.as_str()) {
        return Ok(Some(current));
    }
    let call = Call {
        recording_sid: Some(rec.recording_sid),
        recording_url: Some(rec.recording_url),
        recording_seconds: rec.recording_seconds,
        voicemail: current.voicemail || rec.voicemail,
        updated_at: now(),
        ..current
    };
    tx.execute(
        "UPDATE calls SET recording_sid = $1, recording_url = $2, recording_seconds = $3,
             voicemail = $4, updated_at = $5
         WHERE org_id = $6 AND id = $7",
        args![
            call.recording_sid.clone(),
            call.recording_url.clone(),
            call.recording_seconds.map(i64::from),
            call.voicemail,
            call.updated_at,
            ctx.org_id(),
            call.id
        ],
    )
    .await?;
    emit(
        &mut tx,
        ctx,
        types::CALL_RECORDING_AVAILABLE,
        CallId::KIND,
        call.id.as_uuid(),
        &call,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(call))
}

/// [`workos_core::repo::CommsRepo::record_transcription`].
#[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
pub(super) async fn record_transcription(
    store: &SqlStore,
    ctx: &TenantContext,
    t: CallTranscription,
) -> Result<Option<Call>> {
    if t.text
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_TRANSCRIPTION_CHARS)
    {
        return Err(Error::invalid(
            "TranscriptionText",
            format!("must be at most {MAX_TRANSCRIPTION_CHARS} characters"),
        ));
    }
    let mut tx = store.tenant_tx(ctx, Access::WriteCrm).await?;
    let Some((current, _)) = locked(&mut tx, store, ctx, &t.call_sid).await? else {
        return Ok(None);
    };
    if current.transcription_status.as_deref() == Some(t.status.as_str())
        && current.transcription_text == t.text
    {
        return Ok(Some(current));
    }
    let call = Call {
        transcription_status: Some(t.status),
        transcription_text: t.text,
        updated_at: now(),
        ..current
    };
    tx.execute(
        "UPDATE calls SET transcription_status = $1, transcription_text = $2, updated_at = $3
         WHERE org_id = $4 AND id = $5",
        args![
            call.transcription_status.clone(),
            call.transcription_text.clone(),
            call.updated_at,
            ctx.org_id(),
            call.id
        ],
    )
    .await?;
    emit(
        &mut tx,
        ctx,
        types::CALL_TRANSCRIPTION_AVAILABLE,
        CallId::KIND,
        call.id.as_uuid(),
        &call,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(call))
}
