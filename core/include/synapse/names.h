/*
 * synapse/names.h - validation of every name that reaches the filesystem.
 *
 * Names come from users, documents and the network; none of them touches a
 * path before one of these predicates accepted it.
 */
#ifndef SYNAPSE_NAMES_H
#define SYNAPSE_NAMES_H

#include "common.h"

SYN_BEGIN_DECLS

/** Longest accepted pack, profile or file name, in bytes (NAME_MAX). */
#define SYN_NAME_MAX 255

/**
 * A pack or profile name: non-empty, at most 255 bytes, valid UTF-8, no `/`,
 * `\`, `..`, control characters (including NUL and DEL), no leading `.`.
 * Spaces, Unicode and inner dots (`Pack_v1.0`) are fine.
 * Returns 0 or SYN_EINVALID with a message naming the value.
 */
SYN_EXTERN int syn_name_check_pack(const char *name);

/** A profile name: the same rules as a pack name. */
SYN_EXTERN int syn_name_check_profile(const char *name);

/**
 * A file name taken from a document or the network (expose.filename, a
 * Civitai file name): the pack-name rules, so it is one path component that
 * cannot escape its directory or hide as a dotfile.
 */
SYN_EXTERN int syn_name_check_file(const char *name);

/** A lowercase 64-digit hex SHA-256. Returns 0 or SYN_EINVALID. */
SYN_EXTERN int syn_name_check_sha256(const char *sha);

/**
 * A UI or asset-kind identifier: 1-64 bytes of [a-z0-9_-], starting with a
 * letter or digit. Returns 0 or SYN_EINVALID.
 */
SYN_EXTERN int syn_name_check_ident(const char *what, const char *id);

/**
 * A relative path inside a tree (a UI's kind folder, "models/Lora"): not
 * absolute, no empty, `.` or `..` components, no control characters or `\`.
 * @what names the value in the message. Returns 0 or SYN_EINVALID.
 */
SYN_EXTERN int syn_name_check_relpath(const char *what, const char *path);

/** Predicate forms of the checks above; they leave the error state alone. */
SYN_EXTERN bool syn_name_is_pack(const char *name);
SYN_EXTERN bool syn_name_is_sha256(const char *sha);

SYN_END_DECLS

#endif
