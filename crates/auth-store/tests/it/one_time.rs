use std::sync::{Arc, Barrier};

use auth_core::{
    MailContent, MailKind, OneTimePolicy, OneTimePurpose, OneTimeStore, OneTimeToken, OutboxMail,
    PasswordHash, Redemption, SessionStore, StoreError, UnixTime, User, UserStore, compose,
};
use auth_store::Database;
use auth_store::test_support::TestDatabase;

use crate::{T0, create, user};

crate::on_both_backends!(
    a_verification_token_verifies_the_email_once,
    the_next_token_of_a_purpose_replaces_the_last,
    a_token_serves_only_its_own_purpose,
    an_expired_token_is_refused_as_expired_and_purged_later,
    a_reset_sets_the_password_and_ends_every_session_at_once,
    of_concurrent_uses_of_one_token_exactly_one_succeeds,
    an_email_change_moves_the_account_unless_the_address_was_taken,
    the_link_of_a_composed_reset_mail_resets_the_password,
);

/// Issues a token of `purpose` for `user` at `now`, stored.
fn issue(
    store: &Database,
    user: &User,
    purpose: OneTimePurpose,
    new_email: Option<&str>,
    now: UnixTime,
) -> OneTimeToken {
    let (token, record) = OneTimePolicy::default()
        .issue(&user.id, purpose, new_email.map(str::to_owned), now)
        .unwrap();
    store.issue_one_time(&record).unwrap();
    token
}

fn a_verification_token_verifies_the_email_once(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    assert!(!store.user_by_id(&alice.id).unwrap().unwrap().email_verified);

    let token = issue(&store, &alice, OneTimePurpose::VerifyEmail, None, T0);
    assert_eq!(
        store.verify_email(&token.hash(), T0.plus_secs(60)).unwrap(),
        Redemption::Redeemed(alice.id.clone())
    );
    assert!(store.user_by_id(&alice.id).unwrap().unwrap().email_verified);
    assert_eq!(
        store.verify_email(&token.hash(), T0.plus_secs(61)).unwrap(),
        Redemption::Unknown,
        "a used token is gone"
    );
}

fn the_next_token_of_a_purpose_replaces_the_last(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let first = issue(&store, &alice, OneTimePurpose::VerifyEmail, None, T0);
    let second = issue(
        &store,
        &alice,
        OneTimePurpose::VerifyEmail,
        None,
        T0.plus_secs(5),
    );
    // A token of another purpose leaves the verification token alone.
    issue(
        &store,
        &alice,
        OneTimePurpose::ResetPassword,
        None,
        T0.plus_secs(6),
    );

    assert_eq!(
        store.verify_email(&first.hash(), T0.plus_secs(10)).unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store
            .verify_email(&second.hash(), T0.plus_secs(10))
            .unwrap(),
        Redemption::Redeemed(alice.id)
    );
}

fn a_token_serves_only_its_own_purpose(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let reset = issue(&store, &alice, OneTimePurpose::ResetPassword, None, T0);
    let verify = issue(&store, &alice, OneTimePurpose::VerifyEmail, None, T0);

    assert_eq!(
        store.verify_email(&reset.hash(), T0).unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store
            .reset_password(&verify.hash(), &new_hash(), T0)
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.change_email(&reset.hash(), T0).unwrap(),
        Redemption::Unknown
    );
    // Neither was used up by the attempts.
    assert!(matches!(
        store
            .reset_password(&reset.hash(), &new_hash(), T0)
            .unwrap(),
        Redemption::Redeemed(_)
    ));
    assert!(matches!(
        store.verify_email(&verify.hash(), T0).unwrap(),
        Redemption::Redeemed(_)
    ));
}

fn an_expired_token_is_refused_as_expired_and_purged_later(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let token = issue(&store, &alice, OneTimePurpose::ResetPassword, None, T0);
    let expiry = T0.plus_secs(OneTimePolicy::default().reset_password_secs);

    assert_eq!(
        store
            .reset_password(&token.hash(), &new_hash(), expiry)
            .unwrap(),
        Redemption::Expired
    );
    let before = store.user_by_id(&alice.id).unwrap().unwrap();
    assert_eq!(before.password_hash, alice.password_hash, "nothing changed");

    assert_eq!(store.purge_one_time(expiry, 100).unwrap(), 0, "not yet");
    assert_eq!(store.purge_one_time(expiry.plus_secs(1), 100).unwrap(), 1);
    assert_eq!(
        store
            .reset_password(&token.hash(), &new_hash(), expiry)
            .unwrap(),
        Redemption::Unknown
    );
}

fn a_reset_sets_the_password_and_ends_every_session_at_once(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let second = start_session(&store, &alice);
    let bob = user("bob@example.com", "bob");
    create(&store, &bob).unwrap();
    let bobs = start_session(&store, &bob);

    let token = issue(&store, &alice, OneTimePurpose::ResetPassword, None, T0);
    let Redemption::Redeemed(reset) = store
        .reset_password(&token.hash(), &new_hash(), T0.plus_secs(30))
        .unwrap()
    else {
        panic!("the reset was refused");
    };
    assert_eq!(reset.user_id, alice.id);
    assert_eq!(
        reset.revoked_sessions, 2,
        "registration's session and the second"
    );

    let after = store.user_by_id(&alice.id).unwrap().unwrap();
    assert_eq!(after.password_hash, new_hash());
    assert!(after.email_verified, "the reset mail proved the address");
    let revoked = store.session(&second.id).unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(T0.plus_secs(30)));
    let untouched = store.session(&bobs.id).unwrap().unwrap();
    assert_eq!(
        untouched.revoked_at, None,
        "another user's session is untouched"
    );
}

fn of_concurrent_uses_of_one_token_exactly_one_succeeds(db: &TestDatabase) {
    let store = Arc::new(db.open());
    let alice = user("alice@example.com", "alice");
    create(&*store, &alice).unwrap();
    let token = issue(&store, &alice, OneTimePurpose::ResetPassword, None, T0);
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let outcomes: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier, hash) = (store.clone(), barrier.clone(), token.hash());
            std::thread::spawn(move || {
                barrier.wait();
                store.reset_password(&hash, &new_hash(), T0)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let redeemed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Redemption::Redeemed(_))))
        .count();
    assert_eq!(redeemed, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(Redemption::Redeemed(_) | Redemption::Unknown))),
        "the others see the token used: {outcomes:?}"
    );
}

fn an_email_change_moves_the_account_unless_the_address_was_taken(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    let to_new = issue(
        &store,
        &alice,
        OneTimePurpose::ChangeEmail,
        Some("Alice.New@Example.com"),
        T0,
    );
    assert_eq!(
        store.change_email(&to_new.hash(), T0).unwrap(),
        Redemption::Redeemed(alice.id.clone())
    );
    let moved = store
        .user_by_email("alice.new@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(moved.id, alice.id);
    assert_eq!(moved.email, "Alice.New@Example.com");
    assert!(moved.email_verified);
    assert_eq!(store.user_by_email("alice@example.com").unwrap(), None);

    // Bob asks to move to an address that Carol registers before he confirms.
    let bob = user("bob@example.com", "bob");
    create(&store, &bob).unwrap();
    let to_taken = issue(
        &store,
        &bob,
        OneTimePurpose::ChangeEmail,
        Some("carol@example.com"),
        T0,
    );
    create(&store, &user("CAROL@example.com", "carol")).unwrap();
    let taken = store.change_email(&to_taken.hash(), T0);
    assert!(matches!(taken, Err(StoreError::Duplicate)), "{taken:?}");
    assert_eq!(
        store.user_by_id(&bob.id).unwrap().unwrap().email,
        "bob@example.com"
    );
    // The refused change left the token unused: it is refused again the same way.
    let again = store.change_email(&to_taken.hash(), T0);
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
}

fn the_link_of_a_composed_reset_mail_resets_the_password(db: &TestDatabase) {
    let store = db.open();
    let alice = user("alice@example.com", "alice");
    create(&store, &alice).unwrap();
    // "Forgot password" queued a request naming only the address, as typed.
    let request = OutboxMail::new(MailKind::ResetPassword, "ALICE@example.com", None, None, T0);
    let content = MailContent::new("https://app.example.com", OneTimePolicy::default());

    let mail = compose(&request, &store, &content, T0).unwrap().unwrap();
    let token = mail
        .text
        .split("#token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let token = OneTimeToken::parse(token).unwrap();
    assert!(matches!(
        store
            .reset_password(&token.hash(), &new_hash(), T0.plus_secs(60))
            .unwrap(),
        Redemption::Redeemed(_)
    ));
}

/// The password hash a reset sets.
fn new_hash() -> PasswordHash {
    PasswordHash::from_stored("$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$bmV3aGFzaA".into())
}

/// A new session of `user`, stored.
fn start_session(store: &Database, user: &User) -> auth_core::Session {
    let session = crate::user_session(user);
    store.create_session(&session).unwrap();
    session
}
