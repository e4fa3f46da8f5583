//! The tenant side of webhooks: registering and changing endpoints, their sealed secrets, and
//! reading, replaying and recovering their deliveries ([`WebhookRepo`]). The delivery queue the
//! workers use is in the parent module.

use super::*;

fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::internal("json", e))
}

#[async_trait]
impl WebhookRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn create_webhook(
        &self,
        ctx: &TenantContext,
        new: NewWebhook,
        secrets: SealedSecrets,
        headers: SealedSecrets,
    ) -> Result<Webhook> {
        new.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        let webhook = Webhook {
            id: WebhookId::new(),
            org_id: ctx.org_id(),
            url: new.url,
            description: new.description,
            event_types: new.event_types,
            enabled: new.enabled,
            headers: redacted_headers(&new.headers),
            rate_limit_per_second: new.rate_limit_per_second,
            failing_since: None,
            disabled_reason: None,
            created_at: t,
            updated_at: t,
        };
        tx.execute(
            "INSERT INTO webhooks (id, org_id, url, description, event_types, enabled, secrets, headers,
             rate_limit_per_second, created_at, updated_at, sealed_headers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            args![
                webhook.id.as_uuid(),
                webhook.org_id,
                webhook.url.as_ref(),
                webhook.description.clone(),
                json(&webhook.event_types)?,
                webhook.enabled,
                secrets.0,
                json(&webhook.headers)?,
                webhook.rate_limit_per_second.map(i64::from),
                t,
                t,
                headers.0,
            ],
        )
        .await?;
        emit_and_commit(
            tx,
            ctx,
            types::WEBHOOK_ENDPOINT_CREATED,
            webhook.id,
            &webhook.redacted(),
        )
        .await?;
        Ok(webhook)
    }

    async fn get_webhook(&self, ctx: &TenantContext, id: WebhookId) -> Result<Webhook> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_webhook(&mut tx, ctx, id)
            .await
            .map(|w| for_reader(ctx, w))
    }

    async fn list_webhooks(&self, ctx: &TenantContext, page: PageRequest) -> Result<Page<Webhook>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::select(WEBHOOK_COLUMNS, "webhooks", ctx.org_id());
        sql.page("id", &page)?;
        let rows: Vec<WebhookRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<Vec<_>>>()?;
        let rows = rows.into_iter().map(|w| for_reader(ctx, w)).collect();
        Ok(Page::from_rows(rows, &page, |w: &Webhook| w.id.as_uuid()))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_webhook(
        &self,
        ctx: &TenantContext,
        id: WebhookId,
        patch: WebhookPatch,
        headers: Option<SealedSecrets>,
    ) -> Result<Webhook> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let current = fetch_webhook(&mut tx, ctx, id).await?;
        let next = NewWebhook::patched(&current, patch);
        next.validate()?;
        let re_enabled = next.enabled && !current.enabled;
        let updated = Webhook {
            url: next.url,
            description: next.description,
            event_types: next.event_types,
            enabled: next.enabled,
            headers: redacted_headers(&next.headers),
            rate_limit_per_second: next.rate_limit_per_second,
            failing_since: if re_enabled {
                None
            } else {
                current.failing_since
            },
            disabled_reason: if re_enabled {
                None
            } else {
                current.disabled_reason.clone()
            },
            updated_at: now(),
            ..current.clone()
        };
        // New header values may hide behind the same names: a replacement is always a change.
        if headers.is_none() && unchanged(&updated, &current, |r| &mut r.updated_at) {
            return Ok(current);
        }
        tx.execute(
            "UPDATE webhooks SET url = $1, description = $2, event_types = $3, enabled = $4, headers = $5,
             rate_limit_per_second = $6, failing_since = $7, disabled_reason = $8, updated_at = $9,
             sealed_headers = CASE WHEN $12 THEN $13 ELSE sealed_headers END
             WHERE org_id = $10 AND id = $11",
            args![
                updated.url.as_ref(),
                updated.description.clone(),
                json(&updated.event_types)?,
                updated.enabled,
                json(&updated.headers)?,
                updated.rate_limit_per_second.map(i64::from),
                updated.failing_since,
                updated.disabled_reason.clone(),
                updated.updated_at,
                ctx.org_id(),
                id.as_uuid(),
                headers.is_some(),
                headers.map(|h| h.0),
            ],
        )
        .await?;
        emit_and_commit(
            tx,
            ctx,
            types::WEBHOOK_ENDPOINT_UPDATED,
            id,
            &updated.redacted(),
        )
        .await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_webhook(&self, ctx: &TenantContext, id: WebhookId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let webhook = fetch_webhook(&mut tx, ctx, id).await?;
        // Deliveries (and with them their attempts) first, then the endpoint: the order in which
        // the delivery workers take them (recording an attempt updates the delivery, then the
        // endpoint's `failing_since`). Left to the endpoint's ON DELETE CASCADE, the delete
        // took the endpoint first and could deadlock with a worker recording an attempt.
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2",
            args![ctx.org_id(), id.as_uuid()],
        )
        .await?;
        tx.execute(
            "DELETE FROM webhooks WHERE org_id = $1 AND id = $2",
            args![ctx.org_id(), id.as_uuid()],
        )
        .await?;
        emit_and_commit(
            tx,
            ctx,
            types::WEBHOOK_ENDPOINT_DELETED,
            id,
            &webhook.redacted(),
        )
        .await
    }

    async fn webhook_secrets(&self, ctx: &TenantContext, id: WebhookId) -> Result<SealedSecrets> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let row: Option<(Vec<u8>,)> = tx
            .fetch_optional(
                "SELECT secrets FROM webhooks WHERE org_id = $1 AND id = $2",
                args![ctx.org_id(), id.as_uuid()],
            )
            .await?;
        row.map(|(s,)| SealedSecrets(s))
            .ok_or_else(|| Error::not_found(WebhookId::KIND))
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn swap_webhook_secrets(
        &self,
        ctx: &TenantContext,
        id: WebhookId,
        expected: SealedSecrets,
        secrets: SealedSecrets,
    ) -> Result<bool> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        // Sealing uses a fresh nonce, so equal ciphertexts mean the very list the caller read.
        let changed = tx
            .execute(
                "UPDATE webhooks SET secrets = $1, updated_at = $2 WHERE org_id = $3 AND id = $4 AND secrets = $5",
                args![secrets.0, t, ctx.org_id(), id.as_uuid(), expected.0],
            )
            .await?;
        let webhook = fetch_webhook(&mut tx, ctx, id).await?;
        if changed == 0 {
            return Ok(false);
        }
        emit_and_commit(
            tx,
            ctx,
            types::WEBHOOK_ENDPOINT_SECRET_ROTATED,
            id,
            &webhook.redacted(),
        )
        .await?;
        Ok(true)
    }

    async fn list_deliveries(
        &self,
        ctx: &TenantContext,
        webhook_id: WebhookId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_webhook(&mut tx, ctx, webhook_id).await?;
        let mut sql = Sql::tenant(
            &format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM}"),
            "d.org_id",
            ctx.org_id(),
        );
        sql.and("d.webhook_id", "=", Some(webhook_id.as_uuid()))
            .and("d.status", "=", filter.status.map(|s| s.as_str()))
            .and("e.type", "=", filter.event_type);
        and_range(&mut sql, "d.created_at", filter.created);
        sql.page("d.id", &page)?;
        fetch_page::<DeliveryRow, WebhookDelivery>(&mut tx, sql, &page, |d| d.id.as_uuid()).await
    }

    async fn get_delivery(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_delivery(&mut tx, ctx, id).await
    }

    async fn list_attempts(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<Vec<DeliveryAttempt>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            attempted_at: Timestamp,
            status_code: Option<i32>,
            error_kind: Option<String>,
            latency_ms: i32,
            response_body: Option<String>,
            next_attempt_at: Option<Timestamp>,
        }
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_delivery(&mut tx, ctx, id).await?;
        let rows: Vec<Row> = tx
            .fetch_all(
                "SELECT attempted_at, status_code, error_kind, latency_ms, response_body, next_attempt_at
                 FROM webhook_attempts WHERE org_id = $1 AND delivery_id = $2 ORDER BY attempted_at, id",
                args![ctx.org_id(), id.as_uuid()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeliveryAttempt {
                delivery_id: id,
                attempted_at: r.attempted_at,
                status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
                error_kind: r.error_kind,
                latency_ms: u32::try_from(r.latency_ms).unwrap_or(0),
                // Receivers' answers may echo what they were sent or hold their own
                // secrets: admins only.
                response_body: r
                    .response_body
                    .filter(|_| ctx.authorize(Access::Manage).is_ok()),
                next_attempt_at: r.next_attempt_at,
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn replay_delivery(
        &self,
        ctx: &TenantContext,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let delivery = fetch_delivery(&mut tx, ctx, id).await?;
        if !fetch_webhook(&mut tx, ctx, delivery.webhook_id)
            .await?
            .enabled
        {
            return Err(Error::conflict(
                "webhook_id",
                "the endpoint is disabled; enable it before replaying",
            ));
        }
        let t = now();
        tx.execute(
            // A delivery a worker is sending right now keeps its lease, so it is not sent twice
            // at once.
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1,
             locked_until = CASE WHEN locked_until > $1 THEN locked_until ELSE NULL END, updated_at = $1
             WHERE org_id = $2 AND id = $3",
            args![t, ctx.org_id(), id.as_uuid()],
        )
        .await?;
        let delivery = fetch_delivery(&mut tx, ctx, id).await?;
        tx.wake_workers();
        tx.commit().await?;
        Ok(delivery)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn recover_deliveries(
        &self,
        ctx: &TenantContext,
        webhook_id: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<u64> {
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        fetch_webhook(&mut tx, ctx, webhook_id).await?;
        let t = now();
        let n = tx
            .execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, locked_until = NULL, updated_at = $1
                 WHERE org_id = $2 AND webhook_id = $3 AND status = 'failed' AND created_at >= $4",
                args![t, ctx.org_id(), webhook_id.as_uuid(), since],
            )
            .await?;
        if n > 0 {
            tx.wake_workers();
        }
        tx.commit().await?;
        Ok(n)
    }
}
