//! [`UserStore`] on both backends.

use auth_core::{
    PasswordHash, PrincipalKind, Role, Session, SessionId, StoreError, UnixTime, User, UserId,
    UserStatus, UserStore,
};
use diesel::prelude::*;

use crate::Database;
use crate::connection::on_backend;
use crate::error::store_error;
use crate::schema::{sessions, users};
use crate::sessions::{SessionRow, insert_session};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    email_normalized: String,
    username: String,
    username_normalized: String,
    password_hash: String,
    roles: String,
    status: String,
    created_at: i64,
    updated_at: i64,
    email_verified: bool,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_str().to_owned(),
            email: u.email.clone(),
            email_normalized: u.email_normalized.clone(),
            username: u.username.clone(),
            username_normalized: u.username_normalized.clone(),
            password_hash: u.password_hash.as_str().to_owned(),
            roles: join_roles(&u.roles),
            status: u.status.as_str().to_owned(),
            created_at: u.created_at.secs(),
            updated_at: u.updated_at.secs(),
            email_verified: u.email_verified,
        }
    }
}

fn join_roles(roles: &[Role]) -> String {
    roles.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Backend(format!("user {}: corrupt {what}", r.id));
        let roles = r
            .roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Role::parse(s).ok_or_else(|| corrupt("roles")))
            .collect::<Result<Vec<_>, _>>()?;
        let status = UserStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?;
        Ok(User {
            id: UserId::from_stored(r.id),
            email: r.email,
            email_normalized: r.email_normalized,
            username: r.username,
            username_normalized: r.username_normalized,
            password_hash: PasswordHash::from_stored(r.password_hash),
            roles,
            status,
            email_verified: r.email_verified,
            created_at: UnixTime(r.created_at),
            updated_at: UnixTime(r.updated_at),
        })
    }
}

impl UserStore for Database {
    fn create_user(&self, user: &User, session: &Session) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.write_transaction(&mut conn, |conn| {
            diesel::insert_into(users::table)
                .values(UserRow::from(user))
                .execute(conn)?;
            insert_session(conn, session)
        })
        .map_err(store_error)
    }

    fn user_by_email(&self, email_normalized: &str) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| users::table
            .filter(users::email_normalized.eq(email_normalized))
            .select(UserRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn()?;
        on_backend!(&mut *conn, |c| users::table
            .find(id.as_str())
            .select(UserRow::as_select())
            .get_result(c)
            .optional())
        .map_err(store_error)?
        .map(User::try_from)
        .transpose()
    }

    fn find_user_session(
        &self,
        id: &SessionId,
    ) -> Result<Option<(Session, Option<User>)>, StoreError> {
        let mut conn = self.conn()?;
        let found = on_backend!(&mut *conn, |c| sessions::table
            .left_join(
                users::table.on(users::id
                    .eq(sessions::principal_id)
                    .and(sessions::principal_kind.eq(PrincipalKind::User.as_str()))),
            )
            .filter(sessions::id.eq(id.as_str()))
            .select((SessionRow::as_select(), Option::<UserRow>::as_select()))
            .get_result::<(SessionRow, Option<UserRow>)>(c)
            .optional())
        .map_err(store_error)?;
        found
            .map(|(session, user)| {
                let user = user.map(User::try_from).transpose()?;
                Ok((session.try_into()?, user))
            })
            .transpose()
    }

    fn set_status(
        &self,
        id: &UserId,
        status: UserStatus,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(users::table.find(id.as_str()))
            .set((
                users::status.eq(status.as_str()),
                users::updated_at.eq(at.secs()),
            ))
            .execute(&mut *conn)
            .map(|n| n == 1)
            .map_err(store_error)
    }

    fn set_roles(&self, id: &UserId, roles: &[Role], at: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(users::table.find(id.as_str()))
            .set((
                users::roles.eq(join_roles(roles)),
                users::updated_at.eq(at.secs()),
            ))
            .execute(&mut *conn)
            .map(|n| n == 1)
            .map_err(store_error)
    }

    fn update_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            users::table
                .find(id.as_str())
                .filter(users::password_hash.eq(from.as_str())),
        )
        .set((
            users::password_hash.eq(to.as_str()),
            users::updated_at.eq(at.secs()),
        ))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(store_error)
    }
}
