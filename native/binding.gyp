{
  "targets": [
    {
      "target_name": "macvlan_bpf",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/bpf_object.cc",
        "src/bpf_map.cc",
        "src/bpf_program.cc",
        "src/bpf_link.cc",
        "src/tc.cc",
        "src/ethtool.cc",
        "src/packet_socket.cc",
        "src/tap_queue.cc",
        "src/netlink_socket.cc",
        "src/netns.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
