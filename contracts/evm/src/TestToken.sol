// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Cairn test token
/// @notice A plain ERC-20 (18 decimals) whose `mint` anyone may call. For local chains, the
/// devnet and tests only: it is worth nothing by construction.
contract TestToken is ERC20 {
    constructor() ERC20("Cairn Test Token", "CAIRNT") {}

    /// Creates `amount` tokens for `to`. Unrestricted on purpose (see the contract's notice).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
