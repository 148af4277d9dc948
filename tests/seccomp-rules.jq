# tests/seccomp-rules.jq - a container runtime's seccomp profile (the JSON
# of containers-common, /usr/share/containers/seccomp.json) as the rules
# tests/targets/lc-seccomp-profile.c loads, for a container that holds
# Podman's default capabilities, on architecture $arch (amd64, arm64):
#   jq -r --arg arch amd64 -f tests/seccomp-rules.jq seccomp.json
# A rule applies when the container holds every capability it includes and
# none it excludes, and the architecture is one it includes (or it names
# none) and not one it excludes, as the runtime decides.
def caps: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
	"CAP_SYS_CHROOT"];
def applies:
	((.includes.caps // []) | all(. as $c | caps | index($c) != null))
	and ((.includes.arches // []) | length == 0 or index($arch) != null)
	and ((.excludes.caps // []) | any(. as $c | caps | index($c) != null) | not)
	and ((.excludes.arches // []) | index($arch) == null);
(.defaultErrnoRet // 1) as $default_errno
| "default \(.defaultAction) \($default_errno)",
  (.syscalls[] | select(applies) | . as $rule | .names[]
   | "\($rule.action) \($rule.errnoRet // 1) \(.) \(($rule.args // []) | length)"
     + (($rule.args // []) | map(" \(.index) \(.op) \(.value) \(.valueTwo // 0)") | join("")))
