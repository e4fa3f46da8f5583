//! What happens to a call after it is recorded: status reports of its legs (only ever moving
//! forward), who answered it, its recording and its voicemail's transcription. Each change goes
//! through [`change`]: the call locked, the change worked out, one `UPDATE` and its event in the
//! same transaction; a replayed or late report writes nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use workos_core::domain::{
    Call, CallLeg, CallProgress, CallRecording, CallTranscription, MAX_TRANSCRIPTION_CHARS,
    UnfinishedCall, call_status_advances, call_status_is_final,
};
use workos_core::events::types;
use workos_core::ids::{CallId, OrgId};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::call_where;
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};
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

/// A call as a report leaves it.
struct Change {
    /// The call after the report.
    call: Call,
    /// Whether it is bridged after the report.
    bridged: bool,
    /// The event a change of the call emits.
    event: &'static str,
}

/// Applies to the call with provider id `call_sid` what `f` makes of it (`None`: the report
/// does not apply): writes it when the call (or its bridging) changed, and emits the change's
/// event when the call did. `None` when no call has that id in the org; the call as stored
/// otherwise.
async fn change(
    store: &SqlStore,
    ctx: &TenantContext,
    call_sid: &str,
    f: impl FnOnce(&Call, bool) -> Option<Change>,
) -> Result<Option<Call>> {
    let mut tx = store.tenant_tx(ctx, Access::WriteCrm).await?;
    let Some((current, bridged)) = locked(&mut tx, store, ctx, call_sid).await? else {
        return Ok(None);
    };
    let Some(Change {
        mut call,
        bridged: bridged_after,
        event,
    }) = f(&current, bridged)
    else {
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
             answered_by_member_id = $5, recording_sid = $6, recording_url = $7,
             recording_seconds = $8, voicemail = $9, transcription_status = $10,
             transcription_text = $11, updated_at = $12
         WHERE org_id = $13 AND id = $14",
        args![
            call.status.as_str(),
            call.duration_seconds.map(i64::from),
            call.dial_call_sid.clone(),
            bridged_after,
            call.answered_by_member_id,
            call.recording_sid.clone(),
            call.recording_url.clone(),
            call.recording_seconds.map(i64::from),
            call.voicemail,
            call.transcription_status.clone(),
            call.transcription_text.clone(),
            call.updated_at,
            ctx.org_id(),
            call.id
        ],
    )
    .await?;
    if changed {
        emit(&mut tx, ctx, event, CallId::KIND, call.id.as_uuid(), &call).await?;
    }
    tx.commit().await?;
    Ok(Some(call))
}

/// The call after `progress`, and whether it is bridged after it; `None` when the report does
/// not apply (another dialled leg, the rep's end of a bridged call, or a provider's record that
/// is not final).
fn apply(current: &Call, bridged: bool, progress: &CallProgress) -> Option<(Call, bool)> {
    let mut call = current.clone();
    let mut bridged_after = bridged;
    match &progress.leg {
        // Once the customer is being dialled, the rep hanging up says nothing about them.
        CallLeg::Own if bridged && call_status_is_final(&progress.status) => return None,
        CallLeg::Own => {}
        CallLeg::Bridging => bridged_after = true,
        CallLeg::Dialed {
            call_sid,
            member_id,
        } => {
            if let (Some(known), Some(sid)) = (&current.dial_call_sid, call_sid)
                && known != sid
            {
                return None;
            }
            if call.dial_call_sid.is_none() {
                call.dial_call_sid.clone_from(call_sid);
            }
            // Whoever's leg answered first took the call; it is not taken from them.
            if call.answered_by_member_id.is_none() {
                call.answered_by_member_id = *member_id;
            }
        }
        CallLeg::Provider if !call_status_is_final(&progress.status) => return None,
        CallLeg::Provider => {}
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
    change(store, ctx, &progress.call_sid, |current, bridged| {
        let (call, bridged) = apply(current, bridged, &progress)?;
        let event = if call.status == "completed" && current.status != "completed" {
            types::CALL_COMPLETED
        } else if call.answered_by_member_id != current.answered_by_member_id {
            types::CALL_ANSWERED
        } else {
            types::CALL_STATUS_CHANGED
        };
        Some(Change {
            call,
            bridged,
            event,
        })
    })
    .await
}

/// [`workos_core::repo::CommsRepo::record_recording`].
#[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
pub(super) async fn record_recording(
    store: &SqlStore,
    ctx: &TenantContext,
    rec: CallRecording,
) -> Result<Option<Call>> {
    change(store, ctx, &rec.call_sid.clone(), |current, bridged| {
        if current.recording_sid.as_deref() == Some(rec.recording_sid.as_str()) {
            return None;
        }
        let call = Call {
            recording_sid: Some(rec.recording_sid),
            recording_url: Some(rec.recording_url),
            recording_seconds: rec.recording_seconds,
            voicemail: current.voicemail || rec.voicemail,
            ..current.clone()
        };
        Some(Change {
            call,
            bridged,
            event: types::CALL_RECORDING_AVAILABLE,
        })
    })
    .await
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
    change(store, ctx, &t.call_sid.clone(), |current, bridged| {
        let call = Call {
            transcription_status: Some(t.status),
            transcription_text: t.text,
            ..current.clone()
        };
        Some(Change {
            call,
            bridged,
            event: types::CALL_TRANSCRIPTION_AVAILABLE,
        })
    })
    .await
}

/// [`workos_core::repo::CommsRepo::unfinished_calls`].
pub(super) async fn unfinished(
    store: &SqlStore,
    started_after: DateTime<Utc>,
    started_before: DateTime<Utc>,
    after: Option<CallId>,
    limit: u32,
) -> Result<Vec<UnfinishedCall>> {
    let mut tx = store.system_tx(false).await?;
    // The partial index `calls_unfinished` holds exactly these rows.
    let mut sql = Sql::new(
        "SELECT org_id, id, call_sid, dial_call_sid, bridged, status FROM calls \
         WHERE status NOT IN ('completed', 'busy', 'no-answer', 'failed', 'canceled') \
         AND deleted_at IS NULL AND call_sid IS NOT NULL AND occurred_at > ",
    );
    sql.bind(started_after)
        .push(" AND occurred_at < ")
        .bind(started_before);
    if let Some(after) = after {
        sql.push(" AND id > ").bind(after);
    }
    sql.push(" ORDER BY id LIMIT ")
        .bind(i64::from(limit.clamp(1, 10_000)));
    let rows: Vec<(Uuid, Uuid, String, Option<String>, bool, String)> = tx.fetch_sql(sql).await?;
    Ok(rows
        .into_iter()
        .map(
            |(org, id, call_sid, dial_call_sid, bridged, status)| UnfinishedCall {
                org_id: OrgId::from_uuid(org),
                id: CallId::from_uuid(id),
                call_sid,
                dial_call_sid,
                bridged,
                status,
            },
        )
        .collect())
}
