include(CMakePackageConfigHelpers)

install(TARGETS attnrt attnrt_static EXPORT attnrtTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY runtime/include/attnrt DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT attnrtTargets NAMESPACE attnrt:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnrt)

configure_package_config_file(cmake/attnrtConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/attnrtConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnrt)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/attnrtConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attnrtConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/attnrtConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attnrt)

# From the .pc's directory up to the prefix ("../.." for lib/pkgconfig).
file(RELATIVE_PATH ATTNRT_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" ATTNRT_PC_TO_PREFIX "${ATTNRT_PC_TO_PREFIX}")
configure_file(cmake/attnrt.pc.in ${CMAKE_CURRENT_BINARY_DIR}/attnrt.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attnrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
