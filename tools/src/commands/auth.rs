//! `auth enable|disable`, `user add|delete|get|list|passwd|grant-role|revoke-role`
//! and `role add|delete|get|list|grant-permission|revoke-permission`.
//!
//! Each is one unary call through `Client::call`; a refusal is exit 1 with
//! the server's text (`etcdserver: user name already exists`), wrong
//! arguments exit 128 with etcdctl's text, both as etcdctl 3.4 does. With
//! auth enabled, pass `--user root:<password>` (the connection then acts as
//! root). Passwords are never prompted for (see `crate::auth`).

use std::io::Read;

use etcq_net::{
    method::Method,
    pb::etcdserverpb::{
        AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse,
        AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
        AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionResponse,
        AuthRoleListRequest, AuthRoleListResponse, AuthRoleRevokePermissionResponse,
        AuthUserAddResponse, AuthUserChangePasswordResponse, AuthUserDeleteRequest,
        AuthUserDeleteResponse, AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest,
        AuthUserGrantRoleResponse, AuthUserListRequest, AuthUserListResponse,
        AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse,
    },
};

use super::{timed, write_stdout, Ctx};
use crate::{
    auth,
    cli::{AuthCommand, NameArgs, NoArgs, RoleCommand, RolePermArgs, UserCommand},
    error::{client_message, CtlError, DEADLINE_EXCEEDED, EXIT_ERROR},
    output::AuthDone,
};

/// What the server answers `AuthEnable` with when the root user lacks the
/// root role; etcdctl then creates the role, grants it and retries.
const ROOT_ROLE_NOT_EXIST: &str = "etcdserver: root user does not have root role";

/// The first word of stdin (`--interactive=false`).
fn stdin_password() -> Result<String, CtlError> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    Ok(input)
}

/// Makes one unary call under `--command-timeout`; failure is exit 1 with
/// the server's text. The response type comes from the binding.
macro_rules! unary {
    ($ctx:expr, $client:expr, $method:ident, $req:expr) => {
        $ctx.call(EXIT_ERROR, $client.call(Method::$method, $req))
            .await
    };
}

pub(super) async fn run_auth(ctx: &Ctx, command: AuthCommand) -> Result<(), CtlError> {
    match command {
        AuthCommand::Enable(NoArgs { args }) => {
            auth::no_args(&args, "auth enable command does not accept any arguments")?;
            auth_enable(ctx).await
        }
        AuthCommand::Disable(NoArgs { args }) => {
            auth::no_args(&args, "auth disable command does not accept any arguments")?;
            let client = ctx.connect(EXIT_ERROR).await?;
            let _: AuthDisableResponse = unary!(ctx, client, AuthDisable, &AuthDisableRequest {})?;
            write_stdout(b"Authentication Disabled\n")
        }
    }
}

/// `auth enable`. As etcdctl: if the root user lacks the root role, create
/// the role, grant it to root and try again (once here; etcdctl loops until
/// something fails). The text is printed in every output format.
async fn auth_enable(ctx: &Ctx) -> Result<(), CtlError> {
    let client = ctx.connect(EXIT_ERROR).await?;
    let mut repaired = false;
    loop {
        let call = client.call::<_, AuthEnableResponse>(Method::AuthEnable, &AuthEnableRequest {});
        let Some(enabled) = timed(ctx.global.command_timeout, call).await else {
            return Err(CtlError::new(EXIT_ERROR, DEADLINE_EXCEEDED));
        };
        match enabled {
            Ok(_) => return write_stdout(b"Authentication Enabled\n"),
            Err(e) if !repaired && client_message(&e) == ROOT_ROLE_NOT_EXIST => {
                let add = AuthRoleAddRequest {
                    name: "root".into(),
                };
                let _: AuthRoleAddResponse = unary!(ctx, client, RoleAdd, &add)?;
                let grant = AuthUserGrantRoleRequest {
                    user: "root".into(),
                    role: "root".into(),
                };
                let _: AuthUserGrantRoleResponse = unary!(ctx, client, UserGrantRole, &grant)?;
                repaired = true;
            }
            Err(e) => return Err(CtlError::client(EXIT_ERROR, &e)),
        }
    }
}

pub(super) async fn run_user(ctx: &Ctx, command: UserCommand) -> Result<(), CtlError> {
    match command {
        UserCommand::Add(args) => {
            let source = auth::NewPassword {
                none: args.no_password,
                flag: args.new_user_password.clone(),
                interactive: args.interactive,
            };
            let req = auth::user_add(&args.args, &source, stdin_password)?;
            let client = ctx.connect(EXIT_ERROR).await?;
            let resp: AuthUserAddResponse = unary!(ctx, client, UserAdd, &req)?;
            ctx.emit(|p, out| p.auth_done(out, &AuthDone::UserAdd(&req.name), resp.header.as_ref()))
        }
        UserCommand::Delete(NameArgs { args }) => {
            let name = &auth::exactly(
                &args,
                1,
                "user delete command requires user name as its argument",
            )?[0];
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthUserDeleteRequest { name: name.clone() };
            let resp: AuthUserDeleteResponse = unary!(ctx, client, UserDelete, &req)?;
            ctx.emit(|p, out| p.auth_done(out, &AuthDone::UserDelete(name), resp.header.as_ref()))
        }
        UserCommand::Get(args) => {
            let name = &auth::exactly(
                &args.args,
                1,
                "user get command requires user name as its argument",
            )?[0];
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthUserGetRequest { name: name.clone() };
            let resp: AuthUserGetResponse = unary!(ctx, client, UserGet, &req)?;
            if !args.detail {
                return ctx.emit(|p, out| p.user_get(out, name, &resp));
            }
            // etcdctl: the name, then an empty line and `role get` of each
            // role, in every output format.
            write_stdout(format!("User: {name}\n").as_bytes())?;
            for role in &resp.roles {
                let req = AuthRoleGetRequest { role: role.clone() };
                let role_resp: AuthRoleGetResponse = unary!(ctx, client, RoleGet, &req)?;
                ctx.emit(|p, out| {
                    out.push(b'\n');
                    p.role_get(out, role, &role_resp)
                })?;
            }
            Ok(())
        }
        UserCommand::List(NoArgs { args }) => {
            auth::no_args(&args, "user list command requires no arguments")?;
            let client = ctx.connect(EXIT_ERROR).await?;
            let resp: AuthUserListResponse =
                unary!(ctx, client, UserList, &AuthUserListRequest {})?;
            ctx.emit(|p, out| p.user_list(out, &resp))
        }
        UserCommand::Passwd(args) => {
            let req = auth::user_passwd(&args.args, args.interactive, stdin_password)?;
            let client = ctx.connect(EXIT_ERROR).await?;
            let resp: AuthUserChangePasswordResponse =
                unary!(ctx, client, UserChangePassword, &req)?;
            ctx.emit(|p, out| p.auth_done(out, &AuthDone::UserPasswd, resp.header.as_ref()))
        }
        UserCommand::GrantRole(NameArgs { args }) => {
            let [user, role] = auth::exactly(
                &args,
                2,
                "user grant command requires user name and role name as its argument",
            )?
            else {
                unreachable!("two arguments")
            };
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthUserGrantRoleRequest {
                user: user.clone(),
                role: role.clone(),
            };
            let resp: AuthUserGrantRoleResponse = unary!(ctx, client, UserGrantRole, &req)?;
            ctx.emit(|p, out| {
                p.auth_done(
                    out,
                    &AuthDone::UserGrantRole { user, role },
                    resp.header.as_ref(),
                )
            })
        }
        UserCommand::RevokeRole(NameArgs { args }) => {
            let [user, role] = auth::exactly(
                &args,
                2,
                "user revoke-role requires user name and role name as its argument",
            )?
            else {
                unreachable!("two arguments")
            };
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthUserRevokeRoleRequest {
                name: user.clone(),
                role: role.clone(),
            };
            let resp: AuthUserRevokeRoleResponse = unary!(ctx, client, UserRevokeRole, &req)?;
            ctx.emit(|p, out| {
                p.auth_done(
                    out,
                    &AuthDone::UserRevokeRole { user, role },
                    resp.header.as_ref(),
                )
            })
        }
    }
}

pub(super) async fn run_role(ctx: &Ctx, command: RoleCommand) -> Result<(), CtlError> {
    match command {
        RoleCommand::Add(NameArgs { args }) => {
            let name = &auth::exactly(
                &args,
                1,
                "role add command requires role name as its argument",
            )?[0];
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthRoleAddRequest { name: name.clone() };
            let resp: AuthRoleAddResponse = unary!(ctx, client, RoleAdd, &req)?;
            ctx.emit(|p, out| p.auth_done(out, &AuthDone::RoleAdd(name), resp.header.as_ref()))
        }
        RoleCommand::Delete(NameArgs { args }) => {
            let name = &auth::exactly(
                &args,
                1,
                "role delete command requires role name as its argument",
            )?[0];
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthRoleDeleteRequest { role: name.clone() };
            let resp: AuthRoleDeleteResponse = unary!(ctx, client, RoleDelete, &req)?;
            ctx.emit(|p, out| p.auth_done(out, &AuthDone::RoleDelete(name), resp.header.as_ref()))
        }
        RoleCommand::Get(NameArgs { args }) => {
            let name = &auth::exactly(
                &args,
                1,
                "role get command requires role name as its argument",
            )?[0];
            let client = ctx.connect(EXIT_ERROR).await?;
            let req = AuthRoleGetRequest { role: name.clone() };
            let resp: AuthRoleGetResponse = unary!(ctx, client, RoleGet, &req)?;
            ctx.emit(|p, out| p.role_get(out, name, &resp))
        }
        RoleCommand::List(NoArgs { args }) => {
            auth::no_args(&args, "role list command requires no arguments")?;
            let client = ctx.connect(EXIT_ERROR).await?;
            let resp: AuthRoleListResponse =
                unary!(ctx, client, RoleList, &AuthRoleListRequest {})?;
            ctx.emit(|p, out| p.role_list(out, &resp))
        }
        RoleCommand::GrantPermission(args) => grant_permission(ctx, &args).await,
        RoleCommand::RevokePermission(args) => revoke_permission(ctx, &args).await,
    }
}

async fn grant_permission(ctx: &Ctx, args: &RolePermArgs) -> Result<(), CtlError> {
    let req = auth::grant_permission(args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp: AuthRoleGrantPermissionResponse = unary!(ctx, client, RoleGrantPermission, &req)?;
    ctx.emit(|p, out| {
        p.auth_done(
            out,
            &AuthDone::RoleGrantPermission(&req.name),
            resp.header.as_ref(),
        )
    })
}

async fn revoke_permission(ctx: &Ctx, args: &RolePermArgs) -> Result<(), CtlError> {
    let (req, key) = auth::revoke_permission(args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp: AuthRoleRevokePermissionResponse = unary!(ctx, client, RoleRevokePermission, &req)?;
    let done = AuthDone::RoleRevokePermission {
        role: &req.role,
        key: &key,
        range_end: &req.range_end,
    };
    ctx.emit(|p, out| p.auth_done(out, &done, resp.header.as_ref()))
}
