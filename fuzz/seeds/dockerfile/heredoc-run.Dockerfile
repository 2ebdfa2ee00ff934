# escape=`
FROM busybox
RUN <<EOF
echo hello
echo world
EOF
RUN python3 <<PY `
  && echo after
print("hi")
PY
RUN <<-EOT bash
	set -e
	echo tabs removed
	EOT
RUN 3<<FD cat <&3
from fd 3
FD
ONBUILD RUN <<SCRIPT
echo trigger
SCRIPT
