import Schedules

/// How the management commands show instants, rows and tables.
public enum ManagementOutput {
    /// `2026-03-08T07:00:00Z`
    public static func utc(_ instant: Instant?) -> String { instant?.iso8601 ?? "-" }

    /// The wall time in `zone`: `2026-03-08 08:00:00 +01:00`.
    public static func local(_ instant: Instant?, _ zone: TimeZoneRules?) -> String {
        guard let instant, let zone else { return "-" }
        let offset = zone.utcOffset(at: instant)
        let wall = instant.adding(seconds: Int64(offset)).iso8601  // 2026-03-08T08:00:00Z
        let text = wall.dropLast().replacing("T", with: " ")
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var zoneText = "\(sign)\(two(magnitude / 3600)):\(two(magnitude / 60 % 60))"
        if magnitude % 60 != 0 { zoneText += ":\(two(magnitude % 60))" }
        return "\(text) \(zoneText)"
    }

    /// Columns padded to their widest cell, two spaces apart; the last column is not padded.
    /// Cells are shown with control characters escaped.
    public static func table(_ headers: [String], _ rows: [[String]]) -> [String] {
        let rows = rows.map { $0.map(escaped) }
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                if index > 0 { text += "  " }
                text += index == cells.count - 1 ? cell : cell.padding(widths[index])
            }
            return text
        }
        return [line(headers)] + rows.map(line)
    }

    /// One line of free text for a table cell: control characters escaped (newlines too),
    /// long text cut with an ellipsis.
    public static func cell(_ text: String?, limit: Int = 60) -> String {
        guard let text, !text.isEmpty else { return "-" }
        let flat = escaped(text)
        return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
    }

    // MARK: JSON

    static func string(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    /// JSON output has one time format, as the logs: RFC 3339 UTC with milliseconds.
    static func instant(_ value: Instant?) -> JSONValue { value.map { .string($0.iso8601Milliseconds) } ?? .null }
    static func number(_ value: Int?) -> JSONValue { value.map { .number(String($0)) } ?? .null }

    /// A stored jsonb text as a JSON value (keys in jsonb's order), or null.
    static func embedded(_ text: String?) -> JSONValue {
        guard let text else { return .null }
        return (try? JSONValue.parse(text)) ?? .string(text)
    }

    public static func json(_ record: TriggerRecord, upcoming: [Instant]? = nil) -> JSONValue {
        let d = record.definition
        var members: [(key: String, value: JSONValue)] = [
            ("tenant_id", .string(d.tenantID)),
            ("id", .string(record.id)),
            ("project_id", .string(d.projectID)),
            ("agent_id", .string(d.agentID)),
            ("name", .string(d.name)),
            ("description", string(d.description)),
            // Set when `description` holds only the first characters of a longer one.
            ("description_cut_from", number(record.descriptionCutFrom)),
            ("enabled", .bool(d.enabled)),
            ("cron_expression", string(d.cronExpression)),
            ("cron_timezone", .string(d.timeZone)),
            ("run_at", instant(d.runAt)),
            ("payload", embedded(d.payload)),
            // Set (the stored size in bytes) when the value is over its limit and not shown.
            ("payload_over_limit_bytes", number(record.payloadOverLimitBytes)),
            ("message_template", string(d.messageTemplate)),
            ("message_template_over_limit_bytes", number(record.messageTemplateOverLimitBytes)),
            ("max_retries", number(d.maxRetries)),
            ("retry_delay_seconds", number(d.retryDelaySeconds)),
            ("timeout_seconds", number(d.timeoutSeconds)),
            ("misfire_policy", .string(d.misfirePolicy.rawValue)),
            ("run_as_user_id", string(d.runAsUserID)),
            ("created_by", string(d.createdBy)),
            ("ref", .string(d.ref)),
            ("overlap_policy", .string(d.overlapPolicy.rawValue)),
            ("jitter_seconds", number(d.jitterSeconds)),
            ("pause_after_failures", number(d.pauseAfterFailures)),
            ("paused_reason", string(record.pausedReason)),
            ("next_run_at", instant(record.nextRunAt)),
            ("next_run_local", record.nextRunAt == nil ? .null : .string(local(record.nextRunAt, record.zone))),
            ("schedule_error", string(record.scheduleError)),
            ("last_invocation_status", string(record.lastStatus)),
            ("last_invocation_scheduled_for", instant(record.lastScheduledFor)),
            ("created_at", instant(record.createdAt)),
            ("updated_at", instant(record.updatedAt)),
        ]
        if let upcoming {
            members.append(("upcoming", .array(upcoming.map { instant($0) })))
        }
        return .object(members)
    }

    public static func json(_ record: InvocationRecord) -> JSONValue {
        // A timestamp SQL stored unusable (±infinity, …) as PostgreSQL shows it, never null or 1970.
        func time(_ column: String, _ value: Instant?) -> JSONValue {
            record.unusableTimes[column].map(JSONValue.string) ?? instant(value)
        }
        return .object([
            ("tenant_id", .string(record.tenantID)),
            ("id", .string(record.id)),
            ("scheduled_trigger_id", .string(record.triggerID)),
            ("project_id", .string(record.projectID)),
            ("agent_id", .string(record.agentID)),
            ("ref", .string(record.ref)),
            ("status", .string(record.status)),
            // An unusable slot (written by SQL) as PostgreSQL shows it, never a made-up instant.
            ("scheduled_for", record.unusableScheduledFor.map(JSONValue.string) ?? instant(record.scheduledFor)),
            ("idempotency_key", .string(record.idempotencyKey)),
            ("attempt_number", number(record.attemptNumber)),
            ("next_attempt_at", time("next_attempt_at", record.nextAttemptAt)),
            ("lease_expires_at", time("lease_expires_at", record.leaseExpiresAt)),
            ("execution_id", string(record.executionID)),
            ("last_error", string(record.lastError)),
            ("last_http_status", number(record.lastHTTPStatus)),
            ("started_at", time("started_at", record.startedAt)),
            ("completed_at", time("completed_at", record.completedAt)),
            ("created_at", time("created_at", record.createdAt)),
            ("conversation_ids", embedded(record.conversationIDs)),
        ])
    }
}

// MARK: control characters

extension ManagementOutput {
    /// `text` with every control character (C0, DEL, C1) and bidirectional override shown as an
    /// escape (`\x1b`, `\n`, `\u{202E}`), so names and errors written by anyone (SQL included)
    /// never drive the terminal they are printed on.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x80:
                result += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return result
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value) || value == 0x2028 || value == 0x2029
    }

    /// True when `scalar` is a control character: C0, DEL or C1.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// A value quoted for an error message, escaped.
    package static func quotedForMessage(_ text: String) -> String { "\"" + escaped(text) + "\"" }

    /// One JSON document as text, with DEL, C1 and bidirectional controls escaped too (JSON
    /// itself escapes only C0): the same value to a JSON reader, inert on a terminal.
    public static func jsonLine(_ value: JSONValue) -> String {
        let text = value.compactText
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
