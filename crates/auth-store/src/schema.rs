//! The tables, as diesel sees them. Column types are the portable subset: text, big
//! integers (instants in epoch seconds), booleans and their nullable forms.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_normalized -> Text,
        username -> Text,
        username_normalized -> Text,
        password_hash -> Text,
        roles -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        email_verified -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        principal_kind -> Text,
        principal_id -> Text,
        generation -> BigInt,
        current_hash -> Text,
        current_expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        rotation_key -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
        ip_address -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        generation -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key -> Text,
        public_key -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        device_id -> Text,
        platform -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        user_id -> Nullable<Text>,
    }
}

diesel::table! {
    apps (id) {
        id -> Text,
        name -> Text,
        status -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    wallets (id) {
        id -> Text,
        app_id -> Text,
        username -> Text,
        username_normalized -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    login_attempts (network_key) {
        network_key -> Text,
        failures -> BigInt,
        last_attempt_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        last_success_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    account_failures (account_key) {
        account_key -> Text,
        window_start -> BigInt,
        failures -> BigInt,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        event -> Text,
        outcome -> Text,
        code -> Nullable<Text>,
        principal -> Nullable<Text>,
        actor -> Nullable<Text>,
        client_addr -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        count -> BigInt,
    }
}

diesel::table! {
    rate_limits (key) {
        key -> Text,
        tat -> BigInt,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        new_email -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        user_id -> Nullable<Text>,
        new_email -> Nullable<Text>,
        created_at -> BigInt,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        gave_up_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(one_time_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    signing_keys,
    devices,
    apps,
    wallets,
    login_attempts,
    account_failures,
    server_secrets,
    audit_events,
    rate_limits,
    one_time_tokens,
    mail_outbox
);
